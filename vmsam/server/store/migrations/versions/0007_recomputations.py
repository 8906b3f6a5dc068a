"""Recomputations: periods in which monitoring itself failed, whose covered results count
as UNKNOWN in A/R while applied (docs/availability.md#recomputations).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vmsam.server.store._models import (
    AUDIT_NAME_MAX,
    MAX_KEY_BYTES,
    RECOMPUTATION_EMAIL_MAX,
    RECOMPUTATION_SOURCE_MAX,
    UTCDateTime,
)

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "recomputations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vo", sa.String(MAX_KEY_BYTES), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requester", sa.String(AUDIT_NAME_MAX), nullable=False),
        sa.Column("requester_email", sa.String(RECOMPUTATION_EMAIL_MAX), nullable=True),
        sa.Column("start", UTCDateTime(), nullable=False),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.String(RECOMPUTATION_SOURCE_MAX), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(AUDIT_NAME_MAX), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recomputations")),
    )
    op.create_index(
        op.f("ix_recomputations_vo_start"), "recomputations", ["vo", "start"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_recomputations_vo_start"), table_name="recomputations")
    op.drop_table("recomputations")
