"""The outbox: notifications written with the change that causes them, and the delivery rules.

The notify job (router/jobs.send_notification) only runs these: the per-recipient cap,
what a sender gets (`prepare`), and what a delivery leads to (`record_result`: sent, failed,
the address unreachable, an e-mail copy or fallback).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from models.db import EmployeeAddress, InboundMessage, NotificationRow, Ticket
from models.rows import with_defaults
from models.types import Channel, Notification, NotificationKind, SendResult
from models.types import utcnow as _now
from router import ratings, status_link, texts
from router.lifecycle.records import SPARE_NOTIFICATION_IDS

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


# Built once (give_ids runs for every new ticket; building them cost more than running them).
_PG_IDS = sql(
    "SELECT nextval(pg_get_serial_sequence('notifications', 'id')) FROM generate_series(1, :n)"
)
_SQLITE_TOP = sql("SELECT coalesce(max(id), 0) FROM notifications")


def give_ids(rows: list[NotificationRow], *, session: Session) -> bool:
    """Number new outbox rows before their INSERT, so a first send can be recorded on the row
    it goes out from and the row is written once, with its outcome, by the commit (issue #20:
    one flush and one UPDATE less per new ticket). False (nothing done: the rows get their ids
    at the next flush, as before) where that is not known to be safe.

    Safe only in a transaction that has already written (a new ticket's INSERT): on SQLite the
    writer then holds the database's one write lock, so no one else inserts a notification
    before this transaction commits and `max(id) + 1` is the id SQLite would give; PostgreSQL
    takes them from the column's own sequence, so no one else ever gets them."""
    if not rows or any(
        isinstance(o, NotificationRow) and o.id is None and o not in rows for o in session.new
    ):
        return False  # a pending row without an id would be given one of these at the flush
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        spare: list[int] = session.info.get(SPARE_NOTIFICATION_IDS, [])
        taken, spare[:] = spare[: len(rows)], spare[len(rows) :]
        more = len(rows) - len(taken)
        ids = sorted(taken + (list(connection.scalars(_PG_IDS, {"n": more})) if more else []))
    elif dialect == "sqlite" and connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        ids = [int(connection.scalar(_SQLITE_TOP) or 0) + n for n in range(1, len(rows) + 1)]
    else:
        return False
    for row, given in zip(rows, ids, strict=True):
        row.id = given
        with_defaults(row)  # what its INSERT's column defaults give, needed before it (the send)
    return True


def reply(
    *,
    session: Session,
    channel: str,
    recipient: str,
    language: str,
    text: str,
    subject: str = "",
    extra: dict[str, Any] | None = None,
    threading: dict[str, Any] | None = None,
) -> NotificationRow:
    """Write one notification that belongs to no ticket (a reply about linking a chat)."""
    row = NotificationRow(
        ticket_id=None,
        kind=NotificationKind.info.value,
        channel=channel,
        recipient=recipient,
        language=language,
        subject=subject,
        text=text,
        threading=threading or {},
        extra=extra or {},
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
    if kind != "created":  # the "created" message is the ticket's first: nothing sent before it
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
    # A team's SLA mail is not a loop with a requester; portal rows are the status page
    # itself, not a delivery: neither is capped nor counted.
    if row.kind not in AUTOMATIC or row.extra.get("internal") or row.channel == Channel.webform:
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


def suppress(row: NotificationRow, *, cap: int, channel_enabled: bool, session: Session) -> bool:
    """Mark the row suppressed (and say so) when the loop cap or an unconfigured channel stops it."""
    if over_cap(row, cap, session=session):
        row.status, row.error = "suppressed", "per-recipient hourly cap reached (loop guard)"
    elif not channel_enabled:
        row.status, row.error = "suppressed", f"the {row.channel} channel is not configured"
    return row.status == "suppressed"


def claim(notification_id: int, *, session: Session) -> bool:
    """Mark the row `sending` only if it is still pending: of two runs, exactly one sends."""
    claimed = session.execute(
        update(NotificationRow)
        .where(NotificationRow.id == notification_id, NotificationRow.status == "pending")
        .values(status="sending", enqueued_at=_now())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(claimed, "rowcount", 0))


def attempt_failed(notification_id: int, error: str, *, session: Session) -> None:
    """A failed try stays visible on the row, pending again for RQ's next retry."""
    row = session.get(NotificationRow, notification_id)
    if row is not None:
        row.attempts += 1
        row.error = error
        row.status = "pending"


def prepare(
    row: NotificationRow, public_url: str, secret: bytes, *, session: Session
) -> Notification:
    """What the channel sender gets: the row, its ticket number and the request's status link."""
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
    value = to_value(row, ticket.number if ticket and ticket.number else "")
    source = _source_message_id(ticket, session=session)
    if source is not None:
        value.extra.setdefault("status_url", status_link.page_url(public_url, secret, source))
    value.text, links = ratings.add_links(
        row, value.text, public_url=public_url, secret=secret, short=row.channel == "phone"
    )
    if links:
        value.extra["rating_urls"] = {str(n): url for n, url in links.items()}
    return value


def record_result(
    row: NotificationRow, result: SendResult, *, email_enabled: bool, session: Session
) -> list[int]:
    """One attempt's outcome on the row; the ids of any e-mail copy or fallback it leads to."""
    row.attempts += 1
    if result.ok:
        row.status, row.sent_at, row.external_id = "sent", _now(), result.external_id
        return _email_copy_of_webform(row, session=session) if email_enabled else []
    row.status, row.error = "failed", result.error
    if result.unreachable:
        _mark_unreachable(row, session=session)
    return fallback(row, session=session)


def _source_message_id(ticket: Ticket | None, *, session: Session) -> int | None:
    """The message the requester sent first (a sub-ticket's is its parent's)."""
    while ticket is not None and ticket.source_message_id is None and ticket.parent_id:
        ticket = session.get(Ticket, ticket.parent_id)
    return ticket.source_message_id if ticket is not None else None


def _mark_unreachable(row: NotificationRow, *, session: Session) -> None:
    for address in session.scalars(
        select(EmployeeAddress).where(
            EmployeeAddress.channel == row.channel, EmployeeAddress.address == row.recipient
        )
    ):
        address.unreachable = True


def _email_copy_of_webform(row: NotificationRow, *, session: Session) -> list[int]:
    """A web-form requester who gave an e-mail address hears from us there too."""
    if row.channel != "webform" or "@" not in row.recipient or row.fallback_of_id is not None:
        return []
    return [_copy_to_email(row, row.recipient, session=session)]


def fallback(row: NotificationRow, *, session: Session) -> list[int]:
    """When a chat or phone is unreachable, try the requester's e-mail once."""
    if row.channel == "email" or row.fallback_of_id is not None:
        return []
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
    email = ticket.requester.email if ticket and ticket.requester else None
    if not email:
        return []
    return [_copy_to_email(row, email, session=session)]


def _copy_to_email(row: NotificationRow, email: str, *, session: Session) -> int:
    copy = NotificationRow(
        ticket_id=row.ticket_id,
        kind=row.kind,
        channel="email",
        recipient=email,
        language=row.language,
        subject=row.subject,
        text=row.text,
        html=row.html,
        threading=row.threading,
        extra=row.extra,
        fallback_of_id=row.id,
    )
    session.add(copy)
    session.flush()
    return copy.id
