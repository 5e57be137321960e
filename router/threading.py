"""Threading: does an incoming message continue a ticket we already have?"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Employee, NotificationRow, Ticket
from models.types import TICKET_REF, IncomingMessage
from router.lifecycle.records import by_number

# Channels whose sender address the requester merely types in.
UNPROVEN_SENDER = frozenset({"webform"})


def find_ticket(
    message: IncomingMessage, *, session: Session, employee: Employee | None
) -> Ticket | None:
    """The ticket a message belongs to, by our number or by the message ids we sent."""
    ticket = _by_reference(message, session=session)
    # A web form's e-mail address is whatever was typed: it proves nothing, so a form never
    # continues a ticket by number (the requester answers by mail, chat or the status link).
    if ticket is None and message.channel.value not in UNPROVEN_SENDER:
        ticket = _by_ref_number(message, session=session)
        # A number in a subject is easy to type: only its requester may continue the ticket.
        if ticket is not None and not same_requester(ticket, message, employee):
            return None
    while ticket is not None and ticket.merged_into_id is not None:
        ticket = session.get(Ticket, ticket.merged_into_id)
    return ticket


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
