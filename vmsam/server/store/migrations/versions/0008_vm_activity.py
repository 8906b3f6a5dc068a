"""What Vac and Vcycle factories told VacMon: each VM's interval alive, and the stretches
in which a factory reported no VM of a space running (``vmsam vacmon``).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vmsam.server.store._models import MAX_KEY_BYTES, UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

# SQLite makes only an INTEGER PRIMARY KEY the rowid (as the models' _BigId)
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Key = sa.String(MAX_KEY_BYTES)


def upgrade() -> None:
    op.create_table(
        "vm_activity",
        sa.Column("id", _BigId, nullable=False),
        sa.Column("space", _Key, nullable=False),
        sa.Column("vm_uuid", _Key, nullable=False),
        sa.Column("site", _Key, nullable=False),
        sa.Column("factory", _Key, nullable=False),
        sa.Column("machinetype", _Key, nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("shutdown_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vm_activity")),
        sa.UniqueConstraint("space", "vm_uuid", name=op.f("uq_vm_activity_space_vm_uuid")),
    )
    op.create_index(op.f("ix_vm_activity_space_last_seen"), "vm_activity", ["space", "last_seen"])
    op.create_table(
        "idle_reports",
        sa.Column("id", _BigId, nullable=False),
        sa.Column("space", _Key, nullable=False),
        sa.Column("site", _Key, nullable=False),
        sa.Column("factory", _Key, nullable=False),
        sa.Column("machinetype", _Key, nullable=False),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idle_reports")),
    )
    op.create_index(
        op.f("ix_idle_reports_space_factory_machinetype_end"),
        "idle_reports",
        ["space", "factory", "machinetype", "end"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_idle_reports_space_factory_machinetype_end"), table_name="idle_reports")
    op.drop_table("idle_reports")
    op.drop_index(op.f("ix_vm_activity_space_last_seen"), table_name="vm_activity")
    op.drop_table("vm_activity")
