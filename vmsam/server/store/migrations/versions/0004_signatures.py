"""How each result was signed: ``signature`` ("verified", "unsigned" or NULL, not checked)
and the verified signer's subject.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # results stored before were not checked: NULL, without rewriting the table
    with op.batch_alter_table("results") as batch:
        batch.add_column(sa.Column("signature", sa.String(16), nullable=True))
        batch.add_column(sa.Column("signer", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("results") as batch:
        batch.drop_column("signer")
        batch.drop_column("signature")
