"""SLA arithmetic: due times from a service's targets and priority, paused while we wait."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from models.db import PriorityPolicy, Service, Ticket

DEFAULT_FACTORS = {"critical": 0.25, "high": 0.5, "normal": 1.0, "low": 2.0}
TRIAGE_RESPONSE_HOURS = 4.0
TRIAGE_RESOLUTION_HOURS = 40.0


def factors(priority: str, *, session: Session) -> tuple[float, float]:
    policy = session.get(PriorityPolicy, priority)
    if policy is None:
        f = DEFAULT_FACTORS.get(priority, 1.0)
        return f, f
    return policy.response_factor, policy.resolution_factor


def set_due_dates(
    ticket: Ticket, service: Service | None, now: datetime, *, session: Session
) -> None:
    """Response and resolution due times; a ticket without a service gets the triage targets."""
    response_h = service.response_hours if service else TRIAGE_RESPONSE_HOURS
    resolution_h = service.resolution_hours if service else TRIAGE_RESOLUTION_HOURS
    default_priority = service.priority if service else "normal"
    rf, sf = factors(ticket.priority, session=session)
    df_r, df_s = factors(default_priority, session=session)
    # Targets in the catalogue are for the service's default priority; scale relative to it.
    ticket.response_due_at = now + timedelta(hours=response_h * rf / df_r)
    ticket.resolution_due_at = now + timedelta(hours=resolution_h * sf / df_s)


def pause(ticket: Ticket, now: datetime) -> None:
    """Stop the clock (waiting for the requester)."""
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = now


def resume(ticket: Ticket, now: datetime) -> None:
    """Restart the clock, pushing due times by the time spent waiting."""
    if ticket.sla_paused_at is None:
        return
    waited = now - ticket.sla_paused_at
    if ticket.response_due_at and ticket.first_response_at is None:
        ticket.response_due_at += waited
    if ticket.resolution_due_at:
        ticket.resolution_due_at += waited
    ticket.sla_paused_at = None


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    if ticket.sla_paused_at is not None or ticket.resolution_due_at is None:
        return False
    return ticket.resolution_due_at < now and ticket.status not in ("resolved", "closed")
