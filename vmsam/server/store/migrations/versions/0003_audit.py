"""The audit log of the changes made through the API and the CLI.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vmsam.server.store._models import AUDIT_NAME_MAX, UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# SQLite makes only an INTEGER PRIMARY KEY the rowid (as the models' _BigId)
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", _BigId, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(AUDIT_NAME_MAX), nullable=False),
        sa.Column("client", sa.String(AUDIT_NAME_MAX), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("object_id", sa.BigInteger(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        op.f("ix_audit_log_kind_object_id"), "audit_log", ["kind", "object_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_kind_object_id"), table_name="audit_log")
    op.drop_table("audit_log")
