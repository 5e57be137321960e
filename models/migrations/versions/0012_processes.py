"""processes in stages: templates keep their stages and fields, a sub-ticket its stage

Revision ID: 0012_processes
Revises: 0011_suggestions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_processes"
down_revision = "0011_suggestions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_templates") as batch_op:
        batch_op.add_column(sa.Column("stages", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("fields", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("stage", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("process_fields", sa.JSON(), nullable=False, server_default="{}")
        )
    # A template loaded before stages existed is one stage of parallel steps.
    op.execute(
        "UPDATE process_templates SET stages = "
        + (
            "json_build_array(steps)"
            if op.get_bind().dialect.name == "postgresql"
            else "json_array(json(steps))"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("process_fields")
        batch_op.drop_column("stage")
    with op.batch_alter_table("process_templates") as batch_op:
        batch_op.drop_column("fields")
        batch_op.drop_column("stages")
