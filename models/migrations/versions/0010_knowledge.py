"""knowledge-base articles and canned answers per service

Revision ID: 0010_knowledge
Revises: 0005_sla
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_knowledge"
down_revision = "0005_sla"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "knowledge_articles",
        sa.Column("id", Id, nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["service_code"], ["services.code"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_knowledge_service_language", "knowledge_articles", ["service_code", "language"]
    )


def downgrade() -> None:
    op.drop_index("ix_knowledge_service_language", table_name="knowledge_articles")
    op.drop_table("knowledge_articles")
