"""Ticket records: numbering, events and messages. The one place that writes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Ticket, TicketEvent, TicketMessage
from models.types import utcnow
from router.webhooks import enqueue_webhooks

NUMBER_PREFIX = "OKNO-"


def format_number(ticket_id: int) -> str:
    return f"{NUMBER_PREFIX}{ticket_id:06d}"


def add_ticket(ticket: Ticket, *, session: Session, actor: str = "system") -> Ticket:
    """Insert a ticket, give it its human number and its `created` event."""
    session.add(ticket)
    session.flush()
    ticket.number = format_number(ticket.id)
    add_event(
        ticket,
        "created",
        to_value=ticket.status,
        actor=actor,
        session=session,
        data={"service": ticket.service_code, "team": ticket.team_code},
    )
    return ticket


def add_event(
    ticket: Ticket,
    kind: str,
    *,
    session: Session,
    from_value: str | None = None,
    to_value: str | None = None,
    actor: str = "system",
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    event = TicketEvent(
        ticket_id=ticket.id,
        kind=kind,
        from_value=from_value,
        to_value=to_value,
        actor=actor,
        data=data or {},
    )
    session.add(event)
    enqueue_webhooks(session=session, ticket=ticket, event=event)
    return event


def add_message(
    ticket: Ticket,
    *,
    session: Session,
    direction: str,
    body: str,
    channel: str | None = None,
    author: str | None = None,
    attachments: list[Any] | None = None,
    inbound_message_id: int | None = None,
    author_user_id: int | None = None,
) -> TicketMessage:
    msg = TicketMessage(
        ticket_id=ticket.id,
        direction=direction,
        body=body,
        channel=channel,
        author=author,
        attachments=attachments or [],
        inbound_message_id=inbound_message_id,
        author_user_id=author_user_id,
    )
    session.add(msg)
    return msg


def set_status(
    ticket: Ticket,
    status: str,
    *,
    session: Session,
    actor: str = "system",
    now: datetime | None = None,
) -> None:
    """Record a status change with its event; lifecycle rules live with the workflow API."""
    if ticket.status == status:
        return
    old = ticket.status
    ticket.status = status
    now = now or utcnow()
    if status == "resolved":
        ticket.resolved_at = now
    if status == "closed":
        ticket.closed_at = now
    add_event(ticket, "status", from_value=old, to_value=status, actor=actor, session=session)


def by_number(number: str, *, session: Session) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.number == number.upper()))
