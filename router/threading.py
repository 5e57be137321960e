"""Threading: does an incoming message continue a ticket we already have?"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Employee, InboundMessage, NotificationRow, Ticket, TicketMessage
from models.types import TICKET_REF, IncomingMessage
from router.lifecycle.records import by_number

# "Re:", "Fwd:", "Ответ:", "AW:", "[OKNO-…]" at the start of a subject, as mail clients add them.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|fw|aw|sv|ответ|отв|пересл)\s*(?:\[\d+\])?\s*:|\[[^\]]*\])\s*"
)

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
    ticket = _proven_by_portal(message, session=session) or _by_reference(message, session=session)
    # A web form's e-mail address is whatever was typed: it proves nothing, so a form never
    # continues a ticket by number (the requester answers by mail, chat or the status link).
    if ticket is None and message.channel.value not in UNPROVEN_SENDER:
        ticket = _by_ref_number(message, session=session)
    while ticket is not None and ticket.merged_into_id is not None:
        ticket = session.get(Ticket, ticket.merged_into_id)
    return ticket


def _proven_by_portal(message: IncomingMessage, *, session: Session) -> Ticket | None:
    """A reply from the portal's status page or "My requests": the API checked the status key
    or the sign-in before naming the ticket (no channel passes this key on from outside)."""
    ticket_id = message.meta.get("portal_ticket")
    if message.channel.value != "webform" or not isinstance(ticket_id, int):
        return None
    return session.get(Ticket, ticket_id)


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
    if any((a or "").strip().lower() == sender for a in authors):
        return True
    return sender in copied(ticket, session=session)


def copied(ticket: Ticket, *, session: Session) -> set[str]:
    """Everyone the requester's mails on the ticket went to in Cc: they take part in it."""
    payloads = session.scalars(
        select(InboundMessage.payload).where(
            InboundMessage.ticket_id == ticket.id, InboundMessage.channel == "email"
        )
    )
    found: set[str] = set()
    for payload in payloads:
        cc = ((payload or {}).get("meta") or {}).get("cc") or []
        found.update(str(a).strip().lower() for a in cc if isinstance(a, str))
    return found


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
    ticket_id = ticket_id or _by_own_mail(ids, message.meta.get("mailbox"), session=session)
    return session.get(Ticket, ticket_id) if ticket_id else None


def _by_own_mail(ids: list[str], mailbox: Any, *, session: Session) -> int | None:
    """A reply to the requester's own mail (Reply All on it): the ticket that mail opened.

    Inbound mails are keyed 'mailbox|message-id' (channels/email/keys.py); the reply comes
    to the same mailbox, so both keys are exact lookups on the unique index.
    """
    bare = {"".join(i.split()).strip("<>").lower() for i in ids} - {""}
    keys = set(bare)
    if isinstance(mailbox, str) and mailbox.strip():
        keys |= {f"{mailbox.strip().lower()}|{i}" for i in bare}
    return session.scalar(
        select(InboundMessage.ticket_id)
        .where(
            InboundMessage.channel == "email",
            InboundMessage.external_id.in_(keys),
            InboundMessage.ticket_id.is_not(None),
        )
        .order_by(InboundMessage.id.desc())
        .limit(1)
    )


def _by_ref_number(message: IncomingMessage, *, session: Session) -> Ticket | None:
    ref = message.ticket_ref
    if not ref:
        match = TICKET_REF.search(message.subject or "")
        ref = match.group(0) if match else None
    return by_number(ref, session=session) if ref else None


def new_topic(ticket: Ticket, message: IncomingMessage) -> bool:
    """A "reply" whose subject names another topic and no ticket: the person started anew.

    Mail clients keep the subject on a reply ("Re: ..."); a person who picks an old mail to
    write about something else changes it and drops our number, and means a new request.
    """
    if message.channel.value != "email" or message.ticket_ref or not message.subject:
        return False
    if TICKET_REF.search(message.subject):
        return False
    new, old = _topic(message.subject), _topic(ticket.subject or "")
    return bool(new) and bool(old) and new not in old and old not in new


def _topic(subject: str) -> str:
    """The subject without reply/forward prefixes, brackets, case and spacing."""
    text = subject.lower()
    while (stripped := _PREFIX.sub("", text, count=1)) != text:
        text = stripped
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def same_requester(ticket: Ticket, message: IncomingMessage, employee: Employee | None) -> bool:
    if employee is not None and ticket.requester_id == employee.id:
        return True
    sender = (message.sender_address or "").strip().lower()
    return bool(sender) and sender == (ticket.requester_address or "").strip().lower()
