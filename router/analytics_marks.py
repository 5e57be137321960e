"""Marks for the analytics rollup (router/analytics_rollup.py): which finished days changed.

Light on purpose (router/lifecycle/records.py imports it): `record_event` marks the day of the
ticket it records for, and a flush hook marks days whose tickets, ratings or requesters'
department or branch changed without an event.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from models.db import AnalyticsDirty, Employee, Feedback, Ticket, TicketEvent
from models.types import utcnow


def mark_dirty(session: Session, created_at: datetime | None) -> None:
    """A ticket created at `created_at` changed: its day, if over, is to be read live again."""
    if created_at is not None:
        mark_day(session, created_at.date())


def mark_day(session: Session, day: date) -> None:
    if day >= utcnow().date():
        return  # today is read live anyway, and not built until a while after midnight
    if not any(isinstance(o, AnalyticsDirty) and o.day == day for o in session.new):
        session.add(AnalyticsDirty(day=day))


@event.listens_for(Session, "before_flush")
def _mark_changed(session: Session, _context: Any, _instances: Any) -> None:
    """Ticket rows, ratings, events written directly (tests, imports) and requesters'
    department or branch: changes that do not pass `record_event`."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Ticket) and session.is_modified(obj):
            mark_dirty(session, obj.created_at)
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, Feedback | TicketEvent) and obj.ticket_id is not None:
            with session.no_autoflush:
                ticket = session.get(Ticket, obj.ticket_id)
            mark_dirty(session, ticket.created_at if ticket else None)
    for obj in session.dirty:
        if isinstance(obj, Employee) and _moved(obj):
            with session.no_autoflush:
                made = session.scalars(
                    select(Ticket.created_at).where(Ticket.requester_id == obj.id)
                )
                for day in sorted({c.date() for c in made}):
                    mark_day(session, day)


def _moved(person: Employee) -> bool:
    state = inspect(person)
    return any(state.attrs[a].history.has_changes() for a in ("department", "branch"))
