"""SLA entry points for the lifecycle: due times from the clocks, paused while we wait.

The clocks themselves (working time on a calendar, events, warnings) live in
router/lifecycle/sla_clocks.py; this module keeps the small surface the actions call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, object_session

from models.db import Service, Ticket
from models.types import utcnow
from router.lifecycle import sla_clocks

FINISHED = ("resolved", "closed")


def set_due_dates(
    ticket: Ticket, service: Service | None, now: datetime, *, session: Session, new: bool = False
) -> None:
    """Start the clocks at `now` (a new ticket), or re-plan them for a new service, team or
    priority keeping the working time already spent; a ticket without a service gets triage's.
    `new`: the ticket was created in this transaction, so it has no clocks to read yet."""
    later = max(now, utcnow())
    sla_clocks.plan_ticket(ticket, service, now, session=session, now=later, new=new)


def plan_new(
    ticket: Ticket, service: Service | None, now: datetime, *, session: Session, branch: str | None
) -> Callable[[], None]:
    """`set_due_dates(new=True)` in two steps around the ticket's INSERT: the due dates now, so
    they are written in it; the clocks (and their events) by what this returns, once it has its
    id. `branch`: the requester's."""
    later = max(now, utcnow())
    return sla_clocks.plan_new(ticket, service, now, session=session, now=later, branch=branch)


def pause(ticket: Ticket, now: datetime, *, finished: bool = False) -> None:
    """Stop the clocks: waiting for the requester, or (`finished`) the ticket is resolved."""
    session = _session(ticket)
    if finished:
        for clock in sla_clocks.CLOCKS:
            sla_clocks.stop(ticket, clock, now, session=session)
    else:
        sla_clocks.pause(ticket, now, session=session)
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = now


def resume(ticket: Ticket, now: datetime) -> None:
    """Restart the clocks (the requester answered, or the ticket was reopened)."""
    if ticket.sla_paused_at is None:
        return
    sla_clocks.resume(ticket, now, session=_session(ticket))
    ticket.sla_paused_at = None


def responded(ticket: Ticket, now: datetime) -> None:
    """The first public reply to the requester stops the response clock."""
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    sla_clocks.stop(ticket, sla_clocks.RESPONSE, now, session=_session(ticket))


def _session(ticket: Ticket) -> Session:
    session = object_session(ticket)
    if session is None:
        raise RuntimeError(f"ticket {ticket.number} is not in a session")
    return session


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    if ticket.sla_paused_at is not None or ticket.resolution_due_at is None:
        return False
    return ticket.resolution_due_at < now and ticket.status not in FINISHED
