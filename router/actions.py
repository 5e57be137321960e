"""Requester actions that arrive as messages: a service choice, a rating, linking a chat.

A channel turns a button press (or a shared contact, a typed code) into an IncomingMessage
with meta["action"]; the intake job hands it here instead of threading or routing it, and
the outcome's replies go through the outbox. Linking lives in router/actions_linking.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Feedback, InboundMessage, NotificationRow, Service, Ticket, TicketMessage
from models.settings import Settings
from models.types import OPEN_STATUSES, Channel, IncomingMessage, MessageStatus, NotificationKind
from router import actions_linking, notify, pipeline, texts
from router.actions_linking import ActionRefused
from router.lifecycle.actions import record_feedback
from router.lifecycle.moves import OTHER, route_by_requester
from router.lifecycle.outcome import Outcome
from router.lifecycle.records import by_number
from router.lifecycle.states import WorkflowError
from router.threading import same_requester

log = logging.getLogger(__name__)

MAX_OFFERED = 3
UNSURE_ROUTING = ("triage", "team")
_WORD = re.compile(r"[0-9a-zа-яё]{4,}", re.IGNORECASE)


Handler = Callable[..., "Outcome"]


def handle_action(
    row: InboundMessage, message: IncomingMessage, *, session: Session, settings: Settings
) -> Outcome:
    """Apply meta["action"]; a refused action is a rejected message with the reason."""
    name = str(message.meta.get("action") or "")
    try:
        if name in actions_linking.HANDLERS:
            actions_linking.HANDLERS[name](message, session=session)
            return Outcome(None)
        if name not in HANDLERS:
            raise ActionRefused("unknown requester action")
        return HANDLERS[name](message, session=session, settings=settings)
    except (ActionRefused, WorkflowError) as exc:
        log.info("action %r from %s refused: %s", name, message.sender_address, exc)
        return Outcome(None, status=MessageStatus.rejected, error=f"{name or 'action'}: {exc}")


# --- which service? ---------------------------------------------------------------------


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
    found = {s.code: s for s in _active(codes, session=session)}
    offered = [found[c] for c in codes if c in found]
    return offered[:MAX_OFFERED] or _by_words(_request_text(ticket, session=session), session)


def _active(codes: list[str], *, session: Session) -> list[Service]:
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


def _choose_service(message: IncomingMessage, *, session: Session, settings: Settings) -> Outcome:
    ticket = _own_ticket(message, session=session)
    choice = str(message.meta.get("service") or "")
    if ticket.service_code is not None or ticket.status not in OPEN_STATUSES:
        return _late_choice(ticket, message, session=session)
    if choice == OTHER:
        route_by_requester(ticket, None, session=session)
        text = texts.render("clarified_other", ticket.language, number=ticket.number)
        return _reply(ticket, message, text, session=session)
    service = _active([choice], session=session)
    if not service:
        raise ActionRefused(f"no active service {choice!r}")
    route_by_requester(ticket, service[0], session=session)
    created = pipeline.created_text(ticket, session=session, settings=settings)
    text = texts.render("clarified", ticket.language) + "\n" + created
    return _reply(ticket, message, text, session=session)


def _late_choice(ticket: Ticket, message: IncomingMessage, *, session: Session) -> Outcome:
    """Someone routed the ticket before the requester answered: say where it went."""
    lang = texts.lang(ticket.language)
    service = session.scalar(select(Service).where(Service.code == ticket.service_code))
    where = getattr(service, f"name_{lang}") if service else ticket.team_code
    text = texts.render("clarify_late", lang, number=ticket.number, service=where)
    return _reply(ticket, message, text, session=session)


# --- feedback -----------------------------------------------------------------------------


def _feedback(message: IncomingMessage, *, session: Session, settings: Settings) -> Outcome:
    """A 1-5 rating (then, optionally, a comment in reply to our thanks)."""
    ticket = _own_ticket(message, session=session)
    given = message.meta.get("rating")
    comment = message.meta.get("comment") or None
    existing = session.scalar(select(Feedback).where(Feedback.ticket_id == ticket.id))
    if given is None and existing is None:
        raise ActionRefused(f"a comment on {ticket.number} with no rating to attach it to")
    rating = existing.rating if given is None and existing else _rating(given)
    if comment is None and existing is not None:
        comment = existing.comment  # a changed rating keeps the comment given before
    record_feedback(
        session=session,
        ticket_number=ticket.number or "",
        rating=rating,
        comment=comment,
        channel=message.channel.value,
    )
    if given is None:
        text = texts.render("feedback_comment_thanks", ticket.language, number=ticket.number)
        return _reply(ticket, message, text, session=session)
    text = texts.render("feedback_thanks", ticket.language, number=ticket.number, rating=rating)
    return _reply(ticket, message, text, session=session, extra={"expects": "feedback_comment"})


def _rating(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ActionRefused(f"rating must be 1-5, not {value!r}")
    return int(value)


# --- shared -------------------------------------------------------------------------------


def _own_ticket(message: IncomingMessage, *, session: Session) -> Ticket:
    """The ticket the action names, if the sender is its requester (else it does not exist)."""
    ticket = by_number(str(message.meta.get("ticket") or ""), session=session)
    employee = pipeline.find_employee(message, session=session)
    if ticket is None or not same_requester(ticket, message, employee):
        raise ActionRefused(f"{message.meta.get('ticket')!r} is not a ticket of this requester")
    return ticket


def _reply(
    ticket: Ticket,
    message: IncomingMessage,
    text: str,
    *,
    session: Session,
    extra: dict[str, Any] | None = None,
) -> Outcome:
    """An outbox reply into the chat the action came from."""
    row = notify.outbox(
        ticket,
        NotificationKind.info,
        text,
        session=session,
        channel=message.channel.value,
        recipient=message.sender_address,
        extra=extra,
    )
    return Outcome(ticket, notifications=[row] if row else [])


HANDLERS: dict[str, Handler] = {
    "choose_service": _choose_service,
    "feedback": _feedback,
}
