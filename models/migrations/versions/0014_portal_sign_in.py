"""portal sign-in: one-time links to "My requests", stored hashed

Revision ID: 0014_portal_sign_in
Revises: 0013_rollups
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_portal_sign_in"
down_revision = "0013_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_sign_ins",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_portal_sign_ins_email", "portal_sign_ins", ["email"])


def downgrade() -> None:
    op.drop_index("ix_portal_sign_ins_email", table_name="portal_sign_ins")
    op.drop_table("portal_sign_ins")
