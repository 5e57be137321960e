"""Requester actions that arrive as messages: a service choice, a rating, linking a chat.

A channel turns a button press (or a shared contact, a typed code) into an IncomingMessage
with meta["action"]; the intake job hands it here instead of threading or routing it, and
the outcome's replies go through the outbox. Linking lives in router/actions_linking.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Feedback, InboundMessage, Service, Ticket
from models.settings import Settings
from models.types import (
    OPEN_STATUSES,
    IncomingMessage,
    MessageStatus,
    NotificationKind,
    utcnow,
)
from router import actions_linking, notify, pipeline, texts
from router.actions_linking import ActionRefused
from router.clarify import active_services
from router.lifecycle import process_cancel
from router.lifecycle.actions import record_feedback
from router.lifecycle.moves import OTHER, route_by_requester
from router.lifecycle.outcome import Outcome
from router.lifecycle.records import by_number
from router.lifecycle.states import WorkflowError
from router.threading import same_requester

log = logging.getLogger(__name__)


Handler = Callable[..., "Outcome"]


def handle_action(
    row: InboundMessage, message: IncomingMessage, *, session: Session, settings: Settings
) -> Outcome:
    """Apply meta["action"]; a refused action is a rejected message with the reason."""
    name = str(message.meta.get("action") or "")
    try:
        if name in actions_linking.HANDLERS:
            replies = actions_linking.HANDLERS[name](message, session=session)
            return Outcome(None, notifications=replies)
        if name not in HANDLERS:
            raise ActionRefused("unknown requester action")
        return HANDLERS[name](message, session=session, settings=settings)
    except (ActionRefused, WorkflowError) as exc:
        log.info("action %r from %s refused: %s", name, message.sender_address, exc)
        replies = exc.replies if isinstance(exc, ActionRefused) else []
        error = f"{name or 'action'}: {exc}"
        return Outcome(None, notifications=replies, status=MessageStatus.rejected, error=error)


# --- which service? ---------------------------------------------------------------------


def _choose_service(message: IncomingMessage, *, session: Session, settings: Settings) -> Outcome:
    ticket = _own_ticket(message, session=session)
    choice = str(message.meta.get("service") or "")
    if ticket.service_code is not None or ticket.status not in OPEN_STATUSES:
        return _late_choice(ticket, message, session=session)
    if choice == OTHER:
        route_by_requester(ticket, None, session=session)
        text = texts.render("clarified_other", ticket.language, number=ticket.number)
        return _reply(ticket, message, text, session=session)
    service = active_services([choice], session=session)
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
    recorded = record_feedback(
        session=session,
        ticket_number=ticket.number or "",
        rating=rating,
        comment=comment,
        channel=message.channel.value,
    )
    if given is None:
        text = texts.render("feedback_comment_thanks", ticket.language, number=ticket.number)
        outcome = _reply(ticket, message, text, session=session)
    else:
        text = texts.render("feedback_thanks", ticket.language, number=ticket.number, rating=rating)
        outcome = _reply(
            ticket, message, text, session=session, extra={"expects": "feedback_comment"}
        )
    outcome.notifications.extend(recorded.notifications)  # a low rating tells the lead
    return outcome


def _rating(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ActionRefused(f"rating must be 1-5, not {value!r}")
    return int(value)


# --- cancel ------------------------------------------------------------------------------


def _cancel(message: IncomingMessage, *, session: Session, settings: Settings) -> Outcome:
    """/cancel NUMBER [reason]: the requester withdraws their request (a process as a whole)."""
    try:
        ticket = _own_ticket(message, session=session)
    except ActionRefused as exc:  # someone else's or no such ticket: the same answer
        lang = str(message.meta.get("ui_language") or message.language or "ru")
        text = texts.render("cancel_not_found", lang, number=message.meta.get("ticket"))
        channel, to = message.channel.value, message.sender_address or ""
        row = notify.reply(session=session, channel=channel, recipient=to, language=lang, text=text)
        raise ActionRefused(str(exc), replies=[row]) from exc
    reason = message.meta.get("reason") or None
    try:
        return process_cancel.cancel(
            ticket,
            session=session,
            via=message.channel.value,
            now=utcnow(),
            reason=str(reason) if reason else None,
            reply_channel=message.channel.value,
            reply_to=message.sender_address,
        )
    except WorkflowError as exc:  # resolved already, or a step of a process: say so in the chat
        refused = _reply(ticket, message, _refusal(ticket, exc), session=session)
        raise ActionRefused(str(exc), replies=refused.notifications) from exc


def _refusal(ticket: Ticket, exc: WorkflowError) -> str:
    if exc.code == "part_of_process":
        parent = exc.details.get("parent")
        return texts.render("cancel_step", ticket.language, number=ticket.number, parent=parent)
    status = texts.status_name(ticket.status, ticket.language)
    return texts.render("cancel_refused", ticket.language, number=ticket.number, status=status)


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
    "cancel": _cancel,
}
