"""queue: a partial index of open tickets by team and due time; PostgreSQL trigram text search

Revision ID: 0002_queue_search
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_queue_search"
down_revision = "0001"
branch_labels = None
depends_on = None

OPEN = "status IN ('assigned', 'in_progress', 'new', 'waiting_for_requester')"
# What the specialists' text search reads, lower-cased once on write so a row's test is a plain
# LIKE (PostgreSQL's ILIKE lower-cases the whole text on every row it looks at): the ticket's
# own fields, kept by a trigger on tickets, and its messages' text, appended by a trigger on
# ticket_messages (messages are only ever inserted), capped so a long thread stays cheap.
SEARCH_BODY_CAP = 8000
SEARCH_EXPR = "(search_head || ' ' || search_body)"


def upgrade() -> None:
    op.create_index(
        "ix_ticket_open_team_due",
        "tickets",
        ["team_code", "resolution_due_at", "id"],
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in ("search_head", "search_body"):
        op.add_column("tickets", sa.Column(column, sa.Text(), nullable=False, server_default=""))
    op.execute(
        """
        CREATE FUNCTION okno_ticket_search_head() RETURNS trigger AS $$
        BEGIN
            NEW.search_head := lower(coalesce(NEW.number, '') || ' ' || NEW.subject || ' ' ||
                coalesce(NEW.requester_address, '') || ' ' || coalesce(NEW.requester_name, ''));
            RETURN NEW;
        END $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER tickets_search_head BEFORE INSERT OR UPDATE OF number, subject, "
        "requester_address, requester_name ON tickets "
        "FOR EACH ROW EXECUTE FUNCTION okno_ticket_search_head()"
    )
    op.execute(
        f"""
        CREATE FUNCTION okno_ticket_search_body() RETURNS trigger AS $$
        BEGIN
            UPDATE tickets SET search_body = left(search_body || ' ' || lower(NEW.body), {SEARCH_BODY_CAP})
            WHERE id = NEW.ticket_id AND length(search_body) < {SEARCH_BODY_CAP};
            RETURN NULL;
        END $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER ticket_messages_search_body AFTER INSERT ON ticket_messages "
        "FOR EACH ROW EXECUTE FUNCTION okno_ticket_search_body()"
    )
    op.execute("UPDATE tickets SET number = number")  # fills search_head
    op.execute(
        "UPDATE tickets SET search_body = left(lower(coalesce((SELECT string_agg(body, ' ' "
        f"ORDER BY id) FROM ticket_messages WHERE ticket_id = tickets.id), '')), {SEARCH_BODY_CAP})"
    )
    op.execute(
        f"CREATE INDEX ix_ticket_search_trgm ON tickets USING gin ({SEARCH_EXPR} gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_ticket_search_trgm")
        op.execute("DROP TRIGGER IF EXISTS ticket_messages_search_body ON ticket_messages")
        op.execute("DROP TRIGGER IF EXISTS tickets_search_head ON tickets")
        op.execute("DROP FUNCTION IF EXISTS okno_ticket_search_body()")
        op.execute("DROP FUNCTION IF EXISTS okno_ticket_search_head()")
        op.drop_column("tickets", "search_body")
        op.drop_column("tickets", "search_head")
    op.drop_index("ix_ticket_open_team_due", table_name="tickets")
