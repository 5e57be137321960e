"""A reply that is only a rating ("5", "5 stars", "оценка 5") to a resolved ticket rates it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Feedback, Ticket
from models.settings import Settings
from models.types import IncomingMessage, utcnow
from router import ratings
from router.lifecycle.actions import record_feedback
from router.lifecycle.outcome import Outcome


def rated_by_reply(
    ticket: Ticket, message: IncomingMessage, *, session: Session, settings: Settings
) -> Outcome | None:
    """The rating's outcome, or None when the reply is something to reopen the ticket with."""
    if message.channel.value not in ratings.LINK_CHANNELS:
        return None
    rating = ratings.reply_rating(message.text)
    grace = settings.reopen_grace_days
    if rating is None or not ratings.open_for_rating(ticket, grace_days=grace, now=utcnow()):
        return None
    kept = session.scalar(select(Feedback.comment).where(Feedback.ticket_id == ticket.id))
    return record_feedback(
        session=session,
        ticket_number=ticket.number or "",
        rating=rating,
        comment=kept,
        channel=message.channel.value,
        recorded_by="reply",
    )


def sms_rated_ticket(
    message: IncomingMessage, *, session: Session, settings: Settings
) -> Ticket | None:
    """An SMS that is only a rating refers to its sender's last ticket resolved by SMS."""
    if not message.meta.get("sms") or ratings.reply_rating(message.text) is None:
        return None
    ticket = session.scalar(
        select(Ticket)
        .where(
            Ticket.origin_channel == "phone",
            Ticket.requester_address == message.sender_address,
            Ticket.status.in_(("resolved", "closed")),
        )
        .order_by(Ticket.resolved_at.desc())
        .limit(1)
    )
    grace = settings.reopen_grace_days
    if ticket is None or not ratings.open_for_rating(ticket, grace_days=grace, now=utcnow()):
        return None
    return ticket
