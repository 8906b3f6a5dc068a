"""The state of ``vmsam alerts``: the spaces in trouble as last announced to their site's
contacts, and the notifications not delivered yet.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vmsam.server.store._models import AUDIT_NAME_MAX, MAX_KEY_BYTES, UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

# SQLite makes only an INTEGER PRIMARY KEY the rowid (as the models' _BigId)
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(MAX_KEY_BYTES), nullable=False),
        sa.Column("endpoint", sa.String(MAX_KEY_BYTES), nullable=False),
        sa.Column("service_type", sa.String(MAX_KEY_BYTES), nullable=False),
        sa.Column("vo", sa.String(MAX_KEY_BYTES), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("notified_at", UTCDateTime(), nullable=False),
        sa.Column("acked_by", sa.String(AUDIT_NAME_MAX), nullable=True),
        sa.Column("acked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_states")),
        sa.UniqueConstraint(
            "site",
            "endpoint",
            "service_type",
            "vo",
            name=op.f("uq_alert_states_site_endpoint_service_type_vo"),
        ),
    )
    op.create_table(
        "alert_outbox",
        sa.Column("id", _BigId, nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_outbox")),
    )


def downgrade() -> None:
    op.drop_table("alert_outbox")
    op.drop_table("alert_states")
