"""What the intake job does with one stored message: parse it, then apply an action or route it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from models.db import InboundMessage, Ticket
from models.settings import Settings
from models.types import IncomingMessage, MessageStatus, ParseError, UnsupportedInput, utcnow
from router import actions, pipeline
from router.lifecycle.outcome import Outcome

log = logging.getLogger(__name__)


def process(
    row: InboundMessage,
    *,
    session: Session,
    settings: Settings,
    parse_raw: Callable[[bytes, IncomingMessage], IncomingMessage] | None,
    model: Callable[[], Any],
) -> Outcome:
    """Handle the message and write down on it what came of it (the outbox rows have ids:
    flushed, unless they were given theirs before their INSERT, see notify.give_ids)."""
    outcome = handle(row, session=session, settings=settings, parse_raw=parse_raw, model=model)
    # Counted with the result (one UPDATE, not two: the ticket's flush would write it early);
    # a run that raises rolls back either way, so the count is the same.
    row.attempts += 1
    row.status = outcome.status.value
    row.error = outcome.error
    row.ticket_id = outcome.ticket.id if outcome.ticket else None
    row.processed_at = utcnow()
    if any(r.id is None for r in outcome.notifications):
        session.flush()
    return outcome


def ticket_number(row: InboundMessage, *, session: Session) -> str | None:
    """The number of the ticket a processed message went to."""
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
    return ticket.number if ticket else None


def handle(
    row: InboundMessage,
    *,
    session: Session,
    settings: Settings,
    parse_raw: Callable[[bytes, IncomingMessage], IncomingMessage] | None,
    model: Callable[[], Any],
) -> Outcome:
    """The message's whole result: its status, its ticket and the outbox rows to enqueue."""
    message = IncomingMessage.model_validate(row.payload)
    try:
        if row.raw is not None and parse_raw is not None:
            message = parse_raw(row.raw, message)
    except (ParseError, UnsupportedInput) as exc:
        log.warning("message %s rejected: %s", row.id, exc)
        return Outcome(None, status=MessageStatus.rejected, error=f"{type(exc).__name__}: {exc}")
    if message.meta.get("action"):
        return actions.handle_action(row, message, session=session, settings=settings)
    # Reads in the pipeline need not flush what it has added so far: tickets flush
    # themselves for their number, everything else is written once at commit.
    with session.no_autoflush:
        return pipeline.handle(row, message, session=session, settings=settings, model=model())
