"""SLA engine: calendars, branches, per-ticket SLA clocks; calendar columns on teams/services

Revision ID: 0005_sla
Revises: 0004_lifecycle (chained after the merge of main; written against 0001)
Create Date: 2026-12-06 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_sla"
down_revision = "0004_lifecycle"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "calendars",
        sa.Column("id", ID, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "branches",
        sa.Column("id", ID, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_ru", sa.String(length=255), nullable=False),
        sa.Column("name_en", sa.String(length=255), nullable=False),
        sa.Column("calendar", sa.String(length=64), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "sla_clocks",
        sa.Column("id", ID, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("clock", sa.String(length=16), nullable=False),
        sa.Column("calendar", sa.String(length=64), nullable=False),
        sa.Column("target_seconds", sa.Float(), nullable=False),
        sa.Column("elapsed_seconds", sa.Float(), nullable=False),
        sa.Column("running_since", sa.DateTime(), nullable=True),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("warn_at", sa.DateTime(), nullable=True),
        sa.Column("next_check_at", sa.DateTime(), nullable=True),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("warned_cycle", sa.Integer(), nullable=False),
        sa.Column("breached_at", sa.DateTime(), nullable=True),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.Column("met", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "clock", name="uq_sla_clock_ticket_clock"),
    )
    op.create_index("ix_sla_clock_next_check", "sla_clocks", ["next_check_at"])
    with op.batch_alter_table("teams") as batch_op:
        batch_op.add_column(sa.Column("calendar", sa.String(length=64), nullable=True))
    with op.batch_alter_table("services") as batch_op:
        batch_op.add_column(sa.Column("calendar", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "raise_priority_on_breach",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("services") as batch_op:
        batch_op.drop_column("raise_priority_on_breach")
        batch_op.drop_column("calendar")
    with op.batch_alter_table("teams") as batch_op:
        batch_op.drop_column("calendar")
    op.drop_index("ix_sla_clock_next_check", table_name="sla_clocks")
    op.drop_table("sla_clocks")
    op.drop_table("branches")
    op.drop_table("calendars")
