"""The outbox: notifications written with the change that causes them, sent by the notify job."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.db import InboundMessage, NotificationRow, Ticket
from models.types import Channel, Notification, NotificationKind
from models.types import utcnow as _now
from router import texts

log = logging.getLogger(__name__)

# Kinds a machine sends on its own: these count against the per-recipient loop cap.
AUTOMATIC = {"created", "status", "clarify", "info", "sla_warning", "feedback_request"}


def outbox(
    ticket: Ticket,
    kind: NotificationKind | str,
    text: str,
    *,
    session: Session,
    channel: str | None = None,
    recipient: str | None = None,
    extra: dict[str, Any] | None = None,
) -> NotificationRow | None:
    """Write one notification for the ticket's requester on its origin channel (or the one given)."""
    channel = channel or ticket.origin_channel
    recipient = recipient or ticket.requester_address
    if not recipient:
        return None
    row = NotificationRow(
        ticket_id=ticket.id,
        kind=str(kind),
        channel=channel,
        recipient=recipient,
        language=ticket.language,
        subject=texts.render(
            "subject",
            ticket.language,
            number=ticket.number,
            subject=ticket.subject or ticket.number,
        ),
        text=text,
        threading=_threading(ticket, str(kind), session=session),
        extra={"ticket_status": ticket.status, **(extra or {})},
    )
    session.add(row)
    return row


def _threading(ticket: Ticket, kind: str, *, session: Session) -> dict[str, Any]:
    """E-mail threading: answer the requester's first mail and every mail we sent on the ticket."""
    refs: list[str] = []
    source = (
        session.get(InboundMessage, ticket.source_message_id) if ticket.source_message_id else None
    )
    if source is not None and "|" in source.external_id and source.channel == "email":
        refs.append("<" + source.external_id.split("|", 1)[1].strip("<>") + ">")
    sent = session.scalars(
        select(NotificationRow.external_id)
        .where(NotificationRow.ticket_id == ticket.id, NotificationRow.external_id.is_not(None))
        .order_by(NotificationRow.id)
    )
    refs.extend(s for s in sent if s)
    auto = "auto-replied" if kind == "created" else "auto-generated"
    return {
        "in_reply_to": refs[-1] if refs else None,
        "references": refs,
        "auto_submitted": auto,
        "ticket": ticket.number,
    }


def to_value(row: NotificationRow, ticket_number: str) -> Notification:
    return Notification(
        id=row.id,
        ticket_number=ticket_number,
        kind=NotificationKind(row.kind),
        channel=Channel(row.channel),
        recipient=row.recipient,
        language=row.language,
        subject=row.subject,
        text=row.text,
        html=row.html,
        threading=row.threading,
        extra=row.extra,
    )


def over_cap(row: NotificationRow, cap: int, *, session: Session) -> bool:
    """Loop breaker: too many automatic notifications to one recipient within an hour."""
    # Portal rows are the status page itself, not a delivery: never capped, never counted.
    if row.kind not in AUTOMATIC or row.channel == Channel.webform:
        return False
    since = _now() - timedelta(hours=1)
    count = session.scalar(
        select(func.count(NotificationRow.id)).where(
            NotificationRow.recipient == row.recipient,
            NotificationRow.channel != Channel.webform.value,
            NotificationRow.status == "sent",
            NotificationRow.kind.in_(AUTOMATIC),
            NotificationRow.sent_at >= since,
        )
    )
    return (count or 0) >= cap
