"""Linking a Telegram chat (or any chat channel) to an employee, as requester actions.

A shared phone contact matching the directory links at once; a work e-mail gets a one-time
code that the requester types back. These replies have no ticket to hang an outbox row on
(NotificationRow.ticket_id is required), so they and the code e-mail are sent straight
through the channel senders, inside the job: a send that raises fails the job, RQ runs the
whole action again, and a code is never stored without having gone out.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.db import Employee, EmployeeAddress, LinkCode
from models.types import (
    Channel,
    IncomingMessage,
    InvalidPhoneNumber,
    Notification,
    NotificationKind,
    normalize_phone,
    utcnow,
)
from router import texts
from router.runtime import current

log = logging.getLogger(__name__)

CODE_TTL = timedelta(minutes=15)
CODE_ATTEMPTS = 5
CODES_PER_HOUR = 3


class ActionRefused(Exception):
    """The action cannot apply (not your ticket, unknown phone...); the message is rejected."""


def chat_of(message: IncomingMessage) -> str:
    return (message.sender_address or "").strip()


def language_of(message: IncomingMessage) -> str:
    return texts.lang(message.meta.get("ui_language") or message.language)


def reply_now(
    message: IncomingMessage, key: str, *, extra: dict[str, Any] | None = None, **values: Any
) -> None:
    """A reply with no ticket behind it, sent now through the message's channel."""
    lang = language_of(message)
    note = Notification(
        id=0,
        ticket_number="",
        kind=NotificationKind.info,
        channel=message.channel,
        recipient=chat_of(message),
        language=lang,
        text=texts.render(key, lang, **values),
        extra=extra or {},
    )
    result = current().channels.get(message.channel.value).send(note)
    if not result.ok:
        log.warning("reply %r to %s not delivered: %s", key, note.recipient, result.error)


def normalise_phone(raw: str) -> str | None:
    """E.164 as the directory keeps it (models.types.normalize_phone's rule), or None."""
    try:
        return normalize_phone(raw).e164
    except InvalidPhoneNumber:
        return None


def link_phone(message: IncomingMessage, *, session: Session) -> None:
    phone = normalise_phone(str(message.meta.get("phone") or ""))
    employee = session.scalar(select(Employee).where(Employee.phone == phone)) if phone else None
    if employee is None:
        reply_now(message, "link_phone_unknown")
        raise ActionRefused(f"no employee has the phone {phone or message.meta.get('phone')!r}")
    _link(message, employee, session=session)


def link_email(message: IncomingMessage, *, session: Session) -> None:
    email = str(message.meta.get("email") or "").strip().lower()
    employee = session.scalar(select(Employee).where(func.lower(Employee.email) == email))
    if employee is None or not employee.email:
        reply_now(message, "link_email_unknown", email=email)
        raise ActionRefused(f"no employee has the e-mail {email!r}")
    chat = chat_of(message)
    now = utcnow()
    recent = session.scalar(
        select(func.count(LinkCode.id)).where(
            LinkCode.channel == message.channel.value,
            LinkCode.address == chat,
            LinkCode.created_at >= now - timedelta(hours=1),
        )
    )
    if (recent or 0) >= CODES_PER_HOUR:
        reply_now(message, "link_too_many")
        raise ActionRefused(f"more than {CODES_PER_HOUR} codes asked for within an hour")
    code = f"{secrets.randbelow(10**6):06d}"
    _send_code(message, employee, code)  # first: a code that never went out is never stored
    _expire_codes(message, session=session, now=now)
    session.add(
        LinkCode(
            channel=message.channel.value,
            address=chat,
            email=employee.email,
            code_hash=_code_hash(chat, code),
            expires_at=now + CODE_TTL,
        )
    )
    reply_now(
        message, "link_code_sent", email=employee.email, minutes=int(CODE_TTL.total_seconds() // 60)
    )


def confirm_code(message: IncomingMessage, *, session: Session) -> None:
    chat = chat_of(message)
    link = session.scalar(
        select(LinkCode)
        .where(
            LinkCode.channel == message.channel.value,
            LinkCode.address == chat,
            LinkCode.used_at.is_(None),
        )
        .order_by(LinkCode.id.desc())
        .limit(1)
    )
    now = utcnow()
    if link is None or link.expires_at <= now or link.attempts >= CODE_ATTEMPTS:
        reply_now(message, "link_code_expired")
        raise ActionRefused("no valid code outstanding for this chat")
    if not hmac.compare_digest(link.code_hash, _code_hash(chat, str(message.meta.get("code")))):
        link.attempts += 1
        left = CODE_ATTEMPTS - link.attempts
        if left:
            reply_now(message, "link_code_wrong", left=left)
        else:
            link.expires_at = now  # spent: six digits are an ordinary message again
            reply_now(message, "link_code_expired")
        raise ActionRefused(f"wrong code ({left} attempts left)")
    link.used_at = now
    employee = session.scalar(
        select(Employee).where(func.lower(Employee.email) == link.email.lower())
    )
    if employee is None:
        raise ActionRefused(f"the employee with {link.email} is gone from the directory")
    _link(message, employee, session=session)


def _link(message: IncomingMessage, employee: Employee, *, session: Session) -> None:
    """The chat is this employee's, verified and reachable; later requests carry their name."""
    chat = chat_of(message)
    address = session.scalar(
        select(EmployeeAddress).where(
            EmployeeAddress.channel == message.channel.value, EmployeeAddress.address == chat
        )
    )
    if address is None:
        address = EmployeeAddress(channel=message.channel.value, address=chat)
        session.add(address)
    address.employee_id, address.verified, address.unreachable = employee.id, True, False
    reply_now(
        message, "linked", extra={"remove_keyboard": True}, name=employee.name or employee.email
    )


def chat_member(message: IncomingMessage, *, session: Session) -> None:
    """Blocked ("kicked") → unreachable, so notifications go by e-mail; unblocked → reachable."""
    address = session.scalar(
        select(EmployeeAddress).where(
            EmployeeAddress.channel == message.channel.value,
            EmployeeAddress.address == chat_of(message),
        )
    )
    if address is not None:
        address.unreachable = message.meta.get("status") == "kicked"


def _expire_codes(message: IncomingMessage, *, session: Session, now: datetime) -> None:
    """A new code replaces any earlier one still outstanding for the chat."""
    for old in session.scalars(
        select(LinkCode).where(
            LinkCode.channel == message.channel.value,
            LinkCode.address == chat_of(message),
            LinkCode.used_at.is_(None),
            LinkCode.expires_at > now,
        )
    ):
        old.expires_at = now


def _code_hash(chat: str, code: str) -> str:
    return hashlib.sha256(f"{chat}:{code.strip()}".encode()).hexdigest()


def _send_code(message: IncomingMessage, employee: Employee, code: str) -> None:
    lang = texts.lang(employee.language or language_of(message))
    minutes = int(CODE_TTL.total_seconds() // 60)
    note = Notification(
        id=0,
        ticket_number="",
        kind=NotificationKind.info,
        channel=Channel.email,
        recipient=str(employee.email),
        language=lang,
        subject=texts.render("link_code_subject", lang),
        text=texts.render(
            "link_code_email", lang, name=employee.name or "", code=code, minutes=minutes
        ),
        threading={"auto_submitted": "auto-generated"},
    )
    result = current().channels.get(Channel.email.value).send(note)
    if not result.ok:
        reply_now(message, "link_code_failed")
        raise ActionRefused(f"the code e-mail to {employee.email} failed: {result.error}")


# Each applies one action or raises ActionRefused (the reply, if any, is already sent).
HANDLERS: dict[str, Callable[..., None]] = {
    "link_phone": link_phone,
    "link_email": link_email,
    "confirm_code": confirm_code,
    "chat_member": chat_member,
}
