"""Linking a Telegram chat to an employee, so the bot knows who writes and where to answer.

A shared contact (the phone in the directory) links at once; a work e-mail gets a one-time
code that the requester types back. The replies and the code e-mail are outbox rows with no
ticket: written with the change that causes them, sent by the notify job after commit. A
refused action raises ActionRefused carrying its reply, so the refusal is answered too.
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

from models.db import Employee, EmployeeAddress, LinkCode, NotificationRow
from models.types import (
    Channel,
    IncomingMessage,
    InvalidPhoneNumber,
    normalize_phone,
    utcnow,
)
from router import notify, texts

log = logging.getLogger(__name__)

CODE_TTL = timedelta(minutes=15)
CODE_ATTEMPTS = 5
CODES_PER_HOUR = 3


class ActionRefused(Exception):
    """The action cannot apply (not your ticket, unknown phone...); the message is rejected.

    `replies` are the outbox rows that tell the requester why (committed with the rejection).
    """

    def __init__(self, reason: str, *, replies: list[NotificationRow] | None = None) -> None:
        super().__init__(reason)
        self.replies = replies or []


def chat_of(message: IncomingMessage) -> str:
    return (message.sender_address or "").strip()


def language_of(message: IncomingMessage) -> str:
    return texts.lang(message.meta.get("ui_language") or message.language)


def reply(
    message: IncomingMessage,
    key: str,
    *,
    session: Session,
    extra: dict[str, Any] | None = None,
    **values: Any,
) -> NotificationRow:
    """An outbox reply with no ticket behind it, into the chat the action came from."""
    lang = language_of(message)
    return notify.reply(
        session=session,
        channel=message.channel.value,
        recipient=chat_of(message),
        language=lang,
        text=texts.render(key, lang, **values),
        extra=extra,
    )


def refuse(
    message: IncomingMessage, key: str, reason: str, *, session: Session, **values: Any
) -> ActionRefused:
    """The refusal to raise, with its reply to the requester already in the outbox."""
    return ActionRefused(reason, replies=[reply(message, key, session=session, **values)])


def normalise_phone(raw: str) -> str | None:
    """E.164 as the directory keeps it (models.types.normalize_phone's rule), or None."""
    try:
        return normalize_phone(raw).e164
    except InvalidPhoneNumber:
        return None


def link_phone(message: IncomingMessage, *, session: Session) -> list[NotificationRow]:
    phone = normalise_phone(str(message.meta.get("phone") or ""))
    employee = session.scalar(select(Employee).where(Employee.phone == phone)) if phone else None
    if employee is None:
        why = f"no employee has the phone {phone or message.meta.get('phone')!r}"
        raise refuse(message, "link_phone_unknown", why, session=session)
    return _link(message, employee, session=session)


def link_email(message: IncomingMessage, *, session: Session) -> list[NotificationRow]:
    email = str(message.meta.get("email") or "").strip().lower()
    employee = session.scalar(select(Employee).where(func.lower(Employee.email) == email))
    if employee is None or not employee.email:
        why = f"no employee has the e-mail {email!r}"
        raise refuse(message, "link_email_unknown", why, session=session, email=email)
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
        why = f"more than {CODES_PER_HOUR} codes asked for within an hour"
        raise refuse(message, "link_too_many", why, session=session)
    code = f"{secrets.randbelow(10**6):06d}"
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
    minutes = int(CODE_TTL.total_seconds() // 60)
    sent = reply(message, "link_code_sent", session=session, email=employee.email, minutes=minutes)
    # The code e-mail first, then the chat's "sent" reply: the notify job sends in this order.
    return [_code_email(message, employee, code, session=session), sent]


def confirm_code(message: IncomingMessage, *, session: Session) -> list[NotificationRow]:
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
        raise refuse(message, "link_code_expired", "no valid code outstanding", session=session)
    if not hmac.compare_digest(link.code_hash, _code_hash(chat, str(message.meta.get("code")))):
        link.attempts += 1
        left = CODE_ATTEMPTS - link.attempts
        why = f"wrong code ({left} attempts left)"
        if left:
            raise refuse(message, "link_code_wrong", why, session=session, left=left)
        link.expires_at = now  # spent: six digits are an ordinary message again
        raise refuse(message, "link_code_expired", why, session=session)
    link.used_at = now
    employee = session.scalar(
        select(Employee).where(func.lower(Employee.email) == link.email.lower())
    )
    if employee is None:
        raise ActionRefused(f"the employee with {link.email} is gone from the directory")
    return _link(message, employee, session=session)


def _link(
    message: IncomingMessage, employee: Employee, *, session: Session
) -> list[NotificationRow]:
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
    name = employee.name or employee.email
    return [reply(message, "linked", session=session, extra={"remove_keyboard": True}, name=name)]


def chat_member(message: IncomingMessage, *, session: Session) -> list[NotificationRow]:
    """Blocked ("kicked") → unreachable, so notifications go by e-mail; unblocked → reachable."""
    address = session.scalar(
        select(EmployeeAddress).where(
            EmployeeAddress.channel == message.channel.value,
            EmployeeAddress.address == chat_of(message),
        )
    )
    if address is not None:
        address.unreachable = message.meta.get("status") == "kicked"
    return []


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


def _code_email(
    message: IncomingMessage, employee: Employee, code: str, *, session: Session
) -> NotificationRow:
    lang = texts.lang(employee.language or language_of(message))
    minutes = int(CODE_TTL.total_seconds() // 60)
    return notify.reply(
        session=session,
        channel=Channel.email.value,
        recipient=str(employee.email),
        language=lang,
        subject=texts.render("link_code_subject", lang),
        text=texts.render(
            "link_code_email", lang, name=employee.name or "", code=code, minutes=minutes
        ),
        threading={"auto_submitted": "auto-generated"},
    )


# Each applies one action and returns its replies, or raises ActionRefused carrying them.
HANDLERS: dict[str, Callable[..., list[NotificationRow]]] = {
    "link_phone": link_phone,
    "link_email": link_email,
    "confirm_code": confirm_code,
    "chat_member": chat_member,
}
