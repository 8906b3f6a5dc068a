"""Each dead letter's body digest, unique: a body the broker delivers again is kept once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # letters stored before keep no digest (NULLs never conflict): nothing is rewritten
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("digest", sa.String(64), nullable=True))
    op.create_index(op.f("ix_dead_letters_digest"), "dead_letters", ["digest"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_dead_letters_digest"), table_name="dead_letters")
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("digest")
