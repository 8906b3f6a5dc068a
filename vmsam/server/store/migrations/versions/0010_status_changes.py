"""Status changes kept as results are written: the results the A/R engine needs, and the
newest result of each series that the writer judges the next one against.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vmsam.server.store._changes import rebuild
from vmsam.server.store._models import MAX_KEY_BYTES, UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_Key = sa.String(MAX_KEY_BYTES)


def _head() -> list[sa.Column[object]]:
    return [
        sa.Column("head_timestamp", UTCDateTime(), nullable=True),
        sa.Column("head_gathered_at", _Key, nullable=True),
        sa.Column("head_vm_uuid", _Key, nullable=True),
        sa.Column("head_status", sa.String(16), nullable=True),
        sa.Column("head_site_id", sa.Integer(), nullable=True),
        sa.Column("head_vo", _Key, nullable=True),
        sa.Column("head_paired", sa.Boolean(), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("series") as series:
        for column in _head():
            series.add_column(column)
    op.create_table(
        "status_changes",
        sa.Column("timestamp", UTCDateTime(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("metric", _Key, nullable=False),
        sa.Column("gathered_at", _Key, nullable=False),
        sa.Column("vm_uuid", _Key, nullable=False),
        sa.Column("vo", _Key, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint(
            "timestamp",
            "endpoint_id",
            "metric",
            "gathered_at",
            "vm_uuid",
            name=op.f("pk_status_changes"),
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(
        op.f("ix_status_changes_site_id_timestamp"), "status_changes", ["site_id", "timestamp"]
    )
    op.create_index(
        op.f("ix_status_changes_endpoint_id_timestamp"),
        "status_changes",
        ["endpoint_id", "timestamp"],
    )
    # the results stored so far, judged by the writer's own rule
    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index(op.f("ix_status_changes_endpoint_id_timestamp"), table_name="status_changes")
    op.drop_index(op.f("ix_status_changes_site_id_timestamp"), table_name="status_changes")
    op.drop_table("status_changes")
    with op.batch_alter_table("series") as series:
        for column in reversed(_head()):
            series.drop_column(column.name)
