"""Results without foreign keys: PostgreSQL checked both of a row's keys (its endpoint,
its site) with a query per row, a fifth of the time a batch of 1,000 took to store
(bench/bench_consume.py). The one writer of results takes both ids from
the rows it finds or creates in the same transaction, and no endpoint or site is ever
deleted; status_changes has had none since 0010 for the same reason.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

# (constraint, column, referred table) as the naming convention of the models named them
_KEYS = (
    ("fk_results_endpoint_id_endpoints", "endpoint_id", "endpoints"),
    ("fk_results_site_id_sites", "site_id", "sites"),
)


def upgrade() -> None:
    with op.batch_alter_table("results") as results:
        for name, _, _ in _KEYS:
            results.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("results") as results:
        for name, column, table in _KEYS:
            results.create_foreign_key(name, table, [column], ["id"])
