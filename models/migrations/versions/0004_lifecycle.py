"""notifications without a ticket: replies to a chat's linking go through the outbox too

Revision ID: 0004_lifecycle
Revises: 0003_directory
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_lifecycle"
down_revision = "0003_directory"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("ticket_id", existing_type=_ID, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM notifications WHERE ticket_id IS NULL")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("ticket_id", existing_type=_ID, nullable=False)
