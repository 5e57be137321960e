"""analytics rollups: per-day figures per group, days built, days changed since; tickets by time

Revision ID: 0013_rollups
Revises: 0012_processes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_rollups"
down_revision = "0012_processes"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "analytics_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.Column("stale_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "analytics_rollup",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("grouping", sa.String(length=32), nullable=False),
        sa.Column("keys", sa.Text(), nullable=False),
        sa.Column("counts", sa.LargeBinary(), nullable=False),
        sa.Column("hist", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analytics_rollup_grouping_day", "analytics_rollup", ["grouping", "day"])
    op.create_table(
        "analytics_dirty",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analytics_dirty_day", "analytics_dirty", ["day"])
    op.create_index("ix_ticket_created", "tickets", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_ticket_created", table_name="tickets")
    op.drop_index("ix_analytics_dirty_day", table_name="analytics_dirty")
    op.drop_table("analytics_dirty")
    op.drop_index("ix_analytics_rollup_grouping_day", table_name="analytics_rollup")
    op.drop_table("analytics_rollup")
    op.drop_table("analytics_days")
