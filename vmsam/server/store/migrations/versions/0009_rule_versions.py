"""Versioned rules: each downtime's versions with the time they were in force, the
versions of the groups of sites, and the closed days settled with the rules of their
settlement.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vmsam.server.store._models import MAX_KEY_BYTES, UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

# SQLite makes only an INTEGER PRIMARY KEY the rowid (as the models' _BigId)
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "downtime_versions",
        sa.Column("id", _BigId, nullable=False),
        sa.Column("downtime_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("scheduled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_downtime_versions_endpoint_id_endpoints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_downtime_versions")),
    )
    op.create_index(
        op.f("ix_downtime_versions_endpoint_id_start"),
        "downtime_versions",
        ["endpoint_id", "start"],
    )
    op.create_index(op.f("ix_downtime_versions_downtime_id"), "downtime_versions", ["downtime_id"])
    # the downtimes stored so far: each in force since it was declared
    op.execute(
        "INSERT INTO downtime_versions"
        ' (downtime_id, endpoint_id, start, "end", scheduled, description, recorded_at)'
        ' SELECT id, endpoint_id, start, "end", scheduled, description, created_at'
        " FROM downtimes"
    )
    op.create_table(
        "settled_days",
        sa.Column("vo", sa.String(MAX_KEY_BYTES), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("vo", "day", name=op.f("pk_settled_days")),
    )

    op.create_table(
        "rule_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("name", sa.String(MAX_KEY_BYTES), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_versions")),
    )
    op.create_index(
        op.f("ix_rule_versions_kind_name_recorded_at"),
        "rule_versions",
        ["kind", "name", "recorded_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_rule_versions_kind_name_recorded_at"), table_name="rule_versions")
    op.drop_table("rule_versions")
    op.drop_table("settled_days")
    op.drop_index(op.f("ix_downtime_versions_downtime_id"), table_name="downtime_versions")
    op.drop_index(op.f("ix_downtime_versions_endpoint_id_start"), table_name="downtime_versions")
    op.drop_table("downtime_versions")
