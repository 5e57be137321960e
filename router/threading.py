"""Threading: does an incoming message continue a ticket we already have?"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Employee, NotificationRow, Ticket, TicketMessage
from models.types import TICKET_REF, IncomingMessage
from router.lifecycle.records import by_number

# Channels whose sender address the requester merely types in.
UNPROVEN_SENDER = frozenset({"webform"})


def find_ticket(
    message: IncomingMessage, *, session: Session, employee: Employee | None
) -> Ticket | None:
    """The ticket a message continues: one it refers to, when its sender takes part in it."""
    ticket = referenced(message, session=session)
    if ticket is not None and not participant(ticket, message, employee, session=session):
        return None
    return ticket


def referenced(message: IncomingMessage, *, session: Session) -> Ticket | None:
    """The ticket a message points at, by the message ids we sent or by our number."""
    ticket = _by_reference(message, session=session)
    # A web form's e-mail address is whatever was typed: it proves nothing, so a form never
    # continues a ticket by number (the requester answers by mail, chat or the status link).
    if ticket is None and message.channel.value not in UNPROVEN_SENDER:
        ticket = _by_ref_number(message, session=session)
    while ticket is not None and ticket.merged_into_id is not None:
        ticket = session.get(Ticket, ticket.merged_into_id)
    return ticket


def outsider_reference(
    message: IncomingMessage, *, session: Session, employee: Employee | None
) -> Ticket | None:
    """A ticket the message points at although its sender takes no part in it (to link to)."""
    ticket = referenced(message, session=session)
    if ticket is None or participant(ticket, message, employee, session=session):
        return None
    return ticket


def participant(
    ticket: Ticket, message: IncomingMessage, employee: Employee | None, *, session: Session
) -> bool:
    """The requester, or someone whose messages the ticket already holds (a merged requester).

    A number in a subject is easy to type and a Message-ID of ours leaks with every forward:
    neither proves who writes, so anyone else starts a ticket of their own.
    """
    if same_requester(ticket, message, employee):
        return True
    sender = (message.sender_address or "").strip().lower()
    if not sender:
        return False
    merged = session.scalars(select(Ticket).where(Ticket.merged_into_id == ticket.id))
    if any(same_requester(other, message, employee) for other in merged):
        return True
    authors = session.scalars(
        select(TicketMessage.author).where(
            TicketMessage.ticket_id == ticket.id, TicketMessage.direction == "inbound"
        )
    )
    return any((a or "").strip().lower() == sender for a in authors)


def _by_reference(message: IncomingMessage, *, session: Session) -> Ticket | None:
    ids = [i for i in [message.in_reply_to, *message.references] if i]
    if not ids:
        return None
    forms = {i.strip() for i in ids} | {"<" + i.strip().strip("<>") + ">" for i in ids}
    ticket_id = session.scalar(
        select(NotificationRow.ticket_id)
        .where(NotificationRow.external_id.in_(forms))
        .order_by(NotificationRow.id.desc())
        .limit(1)
    )
    return session.get(Ticket, ticket_id) if ticket_id else None


def _by_ref_number(message: IncomingMessage, *, session: Session) -> Ticket | None:
    ref = message.ticket_ref
    if not ref:
        match = TICKET_REF.search(message.subject or "")
        ref = match.group(0) if match else None
    return by_number(ref, session=session) if ref else None


def same_requester(ticket: Ticket, message: IncomingMessage, employee: Employee | None) -> bool:
    if employee is not None and ticket.requester_id == employee.id:
        return True
    sender = (message.sender_address or "").strip().lower()
    return bool(sender) and sender == (ticket.requester_address or "").strip().lower()
