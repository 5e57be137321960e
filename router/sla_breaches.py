"""SLA breaches as events: a ticket past its resolution due time gets one `sla_breached` event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from models.db import Ticket, TicketEvent
from models.types import utcnow
from router.lifecycle.records import record_event

BATCH = 200


def record_breaches(*, session: Session, now: datetime | None = None) -> int:
    """Write the event for each newly overdue open ticket (once per ticket); returns how many."""
    now = now or utcnow()
    already = exists().where(
        and_(TicketEvent.ticket_id == Ticket.id, TicketEvent.kind == "sla_breached")
    )
    overdue = session.scalars(
        select(Ticket)
        .where(
            Ticket.status.not_in(("resolved", "closed")),
            Ticket.sla_paused_at.is_(None),
            Ticket.resolution_due_at < now,
            ~already,
        )
        .order_by(Ticket.resolution_due_at)
        .limit(BATCH)
    )
    count = 0
    for ticket in overdue:
        due = ticket.resolution_due_at.isoformat() if ticket.resolution_due_at else None
        record_event(ticket, "sla_breached", session=session, to_value=due, data={"due": due})
        count += 1
    return count
