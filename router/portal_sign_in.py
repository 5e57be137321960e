"""Signing in to "My requests": a one-time link by e-mail, then a signed session cookie.

Who may sign in: an active employee of the directory (by their e-mail), or an e-mail address
that has already asked us something (a requester seen before on a ticket). The link goes to
that address only, so holding it proves the address; nobody else learns whether it is known.

The token is 32 random bytes, mailed once and kept only as its SHA-256; it works once and
for `TOKEN_TTL`. The session cookie carries the e-mail, its expiry and a CSRF token, signed
with HMAC-SHA256 under the runtime's secret key (no session table, like /agent/'s).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.orm import Session

from models.db import Employee, EmployeeAddress, NotificationRow, PortalSignIn, Ticket
from models.types import utcnow
from router import notify, texts

TOKEN_TTL = timedelta(minutes=15)
SESSION_HOURS = 12.0
COOKIE = "okno_portal"
PURPOSE = b"okno-portal-session:"

MAIL = {
    "subject": {"ru": "Вход в «Мои обращения»", "en": "Sign in to My requests"},
    "text": {
        "ru": "Здравствуйте!\n\nЧтобы открыть свои обращения, перейдите по ссылке "
        "(она действует {minutes} минут и только один раз):\n{url}\n\n"
        "Если вы не запрашивали вход, просто удалите это письмо.",
        "en": "Hello,\n\nTo open your requests, follow this link "
        "(it works once, for {minutes} minutes):\n{url}\n\n"
        "If you did not ask to sign in, just delete this mail.",
    },
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def known_person(email: str, *, session: Session) -> tuple[bool, str]:
    """Whether the address may sign in, and the language to write to it in."""
    person = session.scalar(select(Employee).where(func.lower(Employee.email) == email))
    if person is not None:  # the directory decides: someone who left signs in no more
        return bool(person.active), texts.lang(person.language)
    seen = session.scalar(
        select(Ticket.language)
        .where(func.lower(Ticket.requester_address) == email)
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    return seen is not None, texts.lang(seen)


def request_link(email: str, *, session: Session, public_url: str) -> NotificationRow | None:
    """Write a sign-in link to the outbox for a known address; None (and nothing) otherwise."""
    email = email.strip().lower()
    known, lang = known_person(email, session=session)
    if not known:
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        PortalSignIn(email=email, token_hash=token_hash(token), expires_at=utcnow() + TOKEN_TTL)
    )
    url = f"{public_url.rstrip('/')}/my/sign-in/{token}"
    minutes = int(TOKEN_TTL.total_seconds() // 60)
    row = notify.reply(
        session=session,
        channel="email",
        recipient=email,
        language=lang,
        subject=MAIL["subject"][lang],
        text=MAIL["text"][lang].format(url=url, minutes=minutes),
        extra={"portal_sign_in": True},
    )
    session.flush()
    return row


def redeem(token: str, *, session: Session) -> str | None:
    """The e-mail a valid, unused, unexpired token was made for; the token is spent at once.

    The spending UPDATE is conditional on `used_at IS NULL`: of two clicks racing, one wins.
    """
    now = utcnow()
    row = session.scalar(select(PortalSignIn).where(PortalSignIn.token_hash == token_hash(token)))
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    spent = session.execute(
        update(PortalSignIn)
        .where(PortalSignIn.id == row.id, PortalSignIn.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(spent, "rowcount", 0):
        return None
    return row.email


@dataclass(frozen=True)
class PortalSession:
    email: str
    expires: float
    csrf: str


def _sign(key: bytes, payload: bytes) -> str:
    return hmac.new(key, PURPOSE + payload, hashlib.sha256).hexdigest()


def encode(key: bytes, data: PortalSession) -> str:
    raw = json.dumps([data.email, data.expires, data.csrf]).encode()
    payload = base64.urlsafe_b64encode(raw).rstrip(b"=")
    return payload.decode() + "." + _sign(key, payload)


def decode(key: bytes, value: str, *, now: float | None = None) -> PortalSession | None:
    """The session in a cookie, or None when it is forged, malformed or expired."""
    payload, _, signature = value.partition(".")
    if not hmac.compare_digest(_sign(key, payload.encode()), signature):
        return None
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        email, expires, csrf = json.loads(raw)
        data = PortalSession(str(email), float(expires), str(csrf))
    except (ValueError, TypeError):
        return None
    return data if data.expires > (now if now is not None else time.time()) else None


def new_session(email: str, *, hours: float = SESSION_HOURS) -> PortalSession:
    return PortalSession(email, time.time() + hours * 3600, secrets.token_hex(16))


def own_tickets(email: str, *, session: Session) -> Select[Any]:
    """The person's tickets on every channel, by the directory and by the requester records.

    The directory gives their e-mail, phone and linked chats (Telegram); a ticket matches by
    its requester (employee id) or by its requester address on its channel. Merged duplicates
    and process sub-tickets are not listed (the ticket they belong to is).
    """
    email = email.strip().lower()
    matches: list[Any] = [func.lower(Ticket.requester_address) == email]
    person = session.scalar(
        select(Employee).where(func.lower(Employee.email) == email, Employee.active.is_(True))
    )
    if person is not None:
        matches.append(Ticket.requester_id == person.id)
        if person.phone:
            matches.append(
                (Ticket.origin_channel == "phone") & (Ticket.requester_address == person.phone)
            )
        for link in session.scalars(
            select(EmployeeAddress).where(EmployeeAddress.employee_id == person.id)
        ):
            matches.append(
                (Ticket.origin_channel == link.channel) & (Ticket.requester_address == link.address)
            )
    return select(Ticket).where(
        or_(*matches), Ticket.merged_into_id.is_(None), Ticket.parent_id.is_(None)
    )


def own_ticket(email: str, number: str, *, session: Session) -> Ticket | None:
    """One of the person's tickets by number; anyone else's is as good as absent."""
    return session.scalar(own_tickets(email, session=session).where(Ticket.number == number))


def language_of(email: str, *, session: Session) -> str:
    return known_person(email, session=session)[1]
