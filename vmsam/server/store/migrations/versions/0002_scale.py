"""Daily figures (kept by prune, or computed once for every site), the days they cover, the
log of prunes, and the revision counter of the caches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from vmsam.server.store._models import MAX_KEY_BYTES, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_Key = sa.String(MAX_KEY_BYTES)
_Float = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "daily_figures",
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("vo", _Key, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("site", _Key, nullable=False),
        sa.Column("name", _Key, nullable=False),
        sa.Column("service_type", _Key, nullable=False),
        sa.Column("availability", _Float, nullable=False),
        sa.Column("reliability", _Float, nullable=False),
        sa.Column("up", _Float, nullable=False),
        sa.Column("unknown", _Float, nullable=False),
        sa.Column("down", _Float, nullable=False),
        sa.Column("up_seconds", sa.Integer(), nullable=False),
        sa.Column("unknown_seconds", sa.Integer(), nullable=False),
        sa.Column("down_seconds", sa.Integer(), nullable=False),
        sa.Column("critical_seconds", sa.Integer(), nullable=False),
        sa.Column("total_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "source",
            "vo",
            "day",
            "scope",
            "site",
            "name",
            "service_type",
            name=op.f("pk_daily_figures"),
        ),
    )
    op.create_table(
        "figured_days",
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("vo", _Key, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("newest_result", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "vo", "day", name=op.f("pk_figured_days")),
    )
    op.create_table(
        "prunes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("before", sa.Date(), nullable=False),
        sa.Column("pruned_at", UTCDateTime(), nullable=False),
        sa.Column("results_removed", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prunes")),
    )
    revision_table = op.create_table(
        "revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revision")),
    )
    op.bulk_insert(revision_table, [{"id": 1, "value": 0}])


def downgrade() -> None:
    op.drop_table("revision")
    op.drop_table("prunes")
    op.drop_table("figured_days")
    op.drop_table("daily_figures")
