"""a new ticket's search text written with its INSERT, not by an UPDATE right after it

Revision ID: 0015_search_body_once
Revises: 0014_portal_sign_in

PostgreSQL only (SQLite has no search columns). Migration 0002 fills `tickets.search_body`
from a trigger on `ticket_messages`: every message appends its text with an UPDATE of its
ticket. For a new request's ticket that UPDATE came right after the ticket's own INSERT, in
the same transaction: a second row version, with new entries in every index of the table (the
trigram GIN among them). Issue #20: dropping the UPDATE took PostgreSQL's CPU per new ticket
from 1.89 to 1.63 ms (session 11, bench/intake-postgresql.md).

Now the ticket's INSERT trigger puts its opening message's text in `search_body` already, read
from the inbound message it comes from, when that message has no raw form to be parsed again
(web form, Telegram, phone: the ticket's first message is then exactly the stored payload's
text). The message trigger leaves the ticket alone when the message is that opening message and
the ticket already holds exactly what it would have appended; in every other case (e-mail, a
ticket without a source message, any other message) it appends as before. The text searched is
the same as before, character for character.
"""

from __future__ import annotations

from alembic import op

revision = "0015_search_body_once"
down_revision = "0014_portal_sign_in"
branch_labels = None
depends_on = None

CAP = 8000  # migration 0002's SEARCH_BODY_CAP

HEAD = """
        NEW.search_head := lower(coalesce(NEW.number, '') || ' ' || NEW.subject || ' ' ||
            coalesce(NEW.requester_address, '') || ' ' || coalesce(NEW.requester_name, ''));
"""
# The opening message's text, from the stored payload of a message with no raw form.
OPENING = f"""
    IF TG_OP = 'INSERT' AND NEW.source_message_id IS NOT NULL AND NEW.search_body = '' THEN
        NEW.search_body := coalesce((
            SELECT left(' ' || lower(coalesce(payload->>'text', '')), {CAP})
            FROM inbound_messages WHERE id = NEW.source_message_id AND raw IS NULL
        ), '');
    END IF;
"""
# ... which the message trigger then does not append a second time.
NOT_OPENING = f"""
      AND NOT (NEW.inbound_message_id IS NOT NULL
               AND source_message_id = NEW.inbound_message_id
               AND search_body = left(' ' || lower(NEW.body), {CAP}))"""


def _head(opening: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION okno_ticket_search_head() RETURNS trigger AS $$
BEGIN
{HEAD}{opening}
    RETURN NEW;
END $$ LANGUAGE plpgsql
"""


def _body(not_opening: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION okno_ticket_search_body() RETURNS trigger AS $$
BEGIN
    UPDATE tickets SET search_body = left(search_body || ' ' || lower(NEW.body), {CAP})
    WHERE id = NEW.ticket_id AND length(search_body) < {CAP}{not_opening};
    RETURN NULL;
END $$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_head(OPENING))
    op.execute(_body(NOT_OPENING))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_head(""))  # migration 0002's
    op.execute(_body(""))
