"""For an unsure routing on Telegram: ask the requester which of the likely services it is.

The answer comes back as a `choose_service` action (router/actions.py).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import NotificationRow, Service, Ticket, TicketMessage
from models.types import Channel, NotificationKind
from router import notify, texts
from router.lifecycle.moves import OTHER

MAX_OFFERED = 3
UNSURE_ROUTING = ("triage", "team")
_WORD = re.compile(r"[0-9a-zа-яё]{4,}", re.IGNORECASE)


def clarify_notification(ticket: Ticket, *, session: Session) -> NotificationRow | None:
    """For an unsure routing on Telegram: ask which of the likely services it is."""
    if ticket.origin_channel != Channel.telegram.value or ticket.parent_id is not None:
        return None
    if ticket.service_code is not None or ticket.routing not in UNSURE_ROUTING:
        return None
    offered = _offer(ticket, session=session)
    if not offered:
        return None
    lang = texts.lang(ticket.language)
    choices = [_choice(ticket, s.code, getattr(s, f"name_{lang}")) for s in offered]
    choices.append(_choice(ticket, OTHER, texts.render("clarify_other", lang)))
    text = texts.render("clarify", lang, number=ticket.number)
    return notify.outbox(
        ticket, NotificationKind.clarify, text, session=session, extra={"choices": choices}
    )


def _choice(ticket: Ticket, value: str, label: str) -> dict[str, Any]:
    return {"action": "choose_service", "ticket": ticket.number, "value": value, "label": label}


def _offer(ticket: Ticket, *, session: Session) -> list[Service]:
    """The classifier's candidates; before any model exists, catalogue words shared with the text."""
    codes = [str(c.get("service")) for c in ticket.candidates or [] if isinstance(c, dict)]
    found = {s.code: s for s in active_services(codes, session=session)}
    offered = [found[c] for c in codes if c in found]
    return offered[:MAX_OFFERED] or _by_words(_request_text(ticket, session=session), session)


def active_services(codes: list[str], *, session: Session) -> list[Service]:
    if not codes:
        return []
    query = select(Service).where(Service.code.in_(codes), Service.active.is_(True))
    return list(session.scalars(query))


def _request_text(ticket: Ticket, *, session: Session) -> str:
    body = session.scalar(
        select(TicketMessage.body)
        .where(TicketMessage.ticket_id == ticket.id, TicketMessage.direction == "inbound")
        .order_by(TicketMessage.id)
        .limit(1)
    )
    return body or ticket.subject or ""


def _stems(text: str) -> set[str]:
    # Five letters are a crude Russian stem: "принтер/принтера", "справка/справку" meet.
    return {w.lower().replace("ё", "е")[:5] for w in _WORD.findall(text)}


def _by_words(text: str, session: Session) -> list[Service]:
    words = _stems(text)
    if not words:
        return []
    scored = []
    for service in session.scalars(select(Service).where(Service.active.is_(True))):
        about = " ".join(
            [service.name_ru, service.name_en, service.description_ru, service.description_en]
        )
        hits = len(words & _stems(about))
        if hits:
            scored.append((-hits, service.code, service))
    return [s for _, _, s in sorted(scored, key=lambda t: t[:2])[:MAX_OFFERED]]
