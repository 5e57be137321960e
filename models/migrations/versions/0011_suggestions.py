"""proactive suggestions: what analysts and leads dismissed or marked done

Revision ID: 0011_suggestions
Revises: 0010_knowledge
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_suggestions"
down_revision = "0010_knowledge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suggestion_states",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("suggestion_states")
