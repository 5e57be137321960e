"""RQ jobs: module-level functions taking ids, re-raising so RQ's retries and registries see it."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from rq import Callback, Retry
from rq.job import Dependency
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.db import EmployeeAddress, InboundMessage, NotificationRow, Ticket, session_scope
from models.types import IncomingMessage, MessageStatus, ParseError, UnsupportedInput, utcnow
from router import actions, notify, pipeline, status_link
from router.lifecycle.outcome import Outcome
from router.runtime import NOTIFY_QUEUE, Runtime, current

log = logging.getLogger(__name__)

SEND_RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])


def send_job_id(notification_id: int) -> str:
    return f"okno-notify-{notification_id}"


def process_message(message_id: int) -> str | None:
    """Thread or route one stored message; safe to run twice (the second run finds it done)."""
    runtime = current()
    with session_scope(runtime.sessions) as session:
        row = session.get(InboundMessage, message_id, with_for_update=True)
        if row is None:
            raise LookupError(f"inbound message {message_id} does not exist")
        if row.status != MessageStatus.queued:
            return _ticket_number(row, session)
        row.attempts += 1
        outcome = _process(row, runtime, session=session)
        row.status = outcome.status.value
        row.error = outcome.error
        row.ticket_id = outcome.ticket.id if outcome.ticket else None
        row.processed_at = utcnow()
        session.flush()
        ids = [n.id for n in outcome.notifications]
        number = outcome.ticket.number if outcome.ticket else None
    enqueue_send(runtime, ids)
    return number


def _process(row: InboundMessage, runtime: Runtime, *, session: Session) -> Outcome:
    message = IncomingMessage.model_validate(row.payload)
    try:
        if row.raw is not None:
            spec = runtime.channels.get(row.channel)
            if spec.parse_raw is not None:
                message = spec.parse_raw(row.raw, message)
    except (ParseError, UnsupportedInput) as exc:
        log.warning("message %s rejected: %s", row.id, exc)
        return Outcome(None, status=MessageStatus.rejected, error=f"{type(exc).__name__}: {exc}")
    if message.meta.get("action"):
        return actions.handle_action(row, message, session=session, settings=runtime.settings)
    # Reads in the pipeline need not flush what it has added so far: tickets flush
    # themselves for their number, everything else is written once at commit.
    with session.no_autoflush:
        outcome = pipeline.handle(
            row, message, session=session, settings=runtime.settings, model=active_model(runtime)
        )
    if outcome.created and outcome.ticket is not None:
        ask = actions.clarify_notification(outcome.ticket, session=session)
        outcome.notifications += [ask] if ask else []
    return outcome


def active_model(runtime: Runtime) -> Any:
    """The active classifier model, or None before the first model is trained."""
    if not runtime.settings.registry_dir.exists():
        return None
    return runtime.model_registry().active()


def _ticket_number(row: InboundMessage, session: Session) -> str | None:
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
    return ticket.number if ticket else None


def on_process_failure(job: Any, connection: Any, exc_type: Any, value: Any, tb: Any) -> None:
    """After the last retry: the message is marked failed, with the error, visible in the API."""
    if job.retries_left:
        return
    with session_scope(current().sessions) as session:
        row = session.get(InboundMessage, job.args[0])
        if row is not None and row.status == MessageStatus.queued:
            row.status = MessageStatus.failed.value
            row.error = f"{exc_type.__name__}: {value}"


def send_notification(notification_id: int) -> str:
    """Deliver one outbox row through its channel; permanent failures fall back to e-mail."""
    runtime = current()
    with session_scope(runtime.sessions) as session:
        row = session.get(NotificationRow, notification_id, with_for_update=True)
        if row is None:
            raise LookupError(f"notification {notification_id} does not exist")
        if row.status != "pending":
            return row.status
        if notify.over_cap(row, runtime.settings.notify_cap_per_hour, session=session):
            row.status, row.error = "suppressed", "per-recipient hourly cap reached (loop guard)"
            return row.status
        spec = runtime.channels.get(row.channel)
        if not spec.enabled:
            row.status, row.error = "suppressed", f"the {row.channel} channel is not configured"
            return row.status
        if not _claim(notification_id, session=session):
            return "sending"  # another run of this job has it: never deliver twice
        ticket = session.get(Ticket, row.ticket_id)
        value = notify.to_value(row, ticket.number if ticket and ticket.number else "")
        source = _source_message_id(ticket, session=session)
        if source is not None:
            value.extra.setdefault(
                "status_url",
                status_link.page_url(runtime.settings.public_url, runtime.secret_key, source),
            )
    try:
        result = spec.send(value)
    except Exception as exc:
        _record_attempt(runtime, notification_id, f"{type(exc).__name__}: {exc}")
        raise
    fallback_ids: list[int] = []
    # One commit per delivered notification: attempt, outcome and any fallback together.
    with session_scope(runtime.sessions) as session:
        row = session.get(NotificationRow, notification_id)
        assert row is not None
        row.attempts += 1
        if result.ok:
            row.status, row.sent_at, row.external_id = "sent", utcnow(), result.external_id
            if _email_enabled(runtime):
                fallback_ids = _email_copy_of_webform(row, session=session)
        else:
            row.status, row.error = "failed", result.error
            if result.unreachable:
                _mark_unreachable(row, session=session)
            fallback_ids = _fallback(row, session=session)
        status = row.status
    enqueue_send(runtime, fallback_ids)
    return status


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


def _claim(notification_id: int, *, session: Session) -> bool:
    """Mark the row `sending` only if it is still pending: of two runs, exactly one sends."""
    claimed = session.execute(
        update(NotificationRow)
        .where(NotificationRow.id == notification_id, NotificationRow.status == "pending")
        .values(status="sending", enqueued_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(claimed, "rowcount", 0))


def _record_attempt(runtime: Runtime, notification_id: int, error: str) -> None:
    """A failed try stays visible on the row, pending again for RQ's next retry."""
    with session_scope(runtime.sessions) as session:
        row = session.get(NotificationRow, notification_id)
        if row is not None:
            row.attempts += 1
            row.error = error
            row.status = "pending"


def _email_enabled(runtime: Runtime) -> bool:
    return runtime.channels.get("email").enabled


def _email_copy_of_webform(row: NotificationRow, *, session: Session) -> list[int]:
    """A web-form requester who gave an e-mail address hears from us there too."""
    if row.channel != "webform" or "@" not in row.recipient or row.fallback_of_id is not None:
        return []
    return [_copy_to_email(row, row.recipient, session=session)]


def _fallback(row: NotificationRow, *, session: Session) -> list[int]:
    """When a chat or phone is unreachable, try the requester's e-mail once."""
    if row.channel == "email" or row.fallback_of_id is not None:
        return []
    ticket = session.get(Ticket, row.ticket_id)
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


def on_send_failure(job: Any, connection: Any, exc_type: Any, value: Any, tb: Any) -> None:
    """After the last retry: mark it failed and try the requester's e-mail instead."""
    if job.retries_left:
        return
    runtime = current()
    fallback_ids: list[int] = []
    with session_scope(runtime.sessions) as session:
        row = session.get(NotificationRow, job.args[0])
        if row is not None and row.status in ("pending", "sending"):
            row.status, row.error = "failed", f"{exc_type.__name__}: {value}"
            fallback_ids = _fallback(row, session=session)
    enqueue_send(runtime, fallback_ids)


def enqueue_send(runtime: Runtime, notification_ids: list[int], *, chain: bool = True) -> None:
    """Enqueue sends with deterministic ids; on a Redis outage the sweeper picks them up."""
    if not notification_ids:
        return
    queue = runtime.queue(NOTIFY_QUEUE)
    # Each send waits for the one before it, so the requester reads them in the order written
    # (the "created" message before the question that follows it), whichever worker runs them.
    after: list[str | None] = [None, *(send_job_id(n) for n in notification_ids[:-1])]
    if not chain:  # unrelated rows (the sweeper's) must not wait for each other
        after = [None] * len(notification_ids)
    try:
        queue.enqueue_many(
            [
                queue.prepare_data(
                    send_notification,
                    (nid,),
                    job_id=send_job_id(nid),
                    retry=SEND_RETRY,
                    on_failure=Callback(on_send_failure),
                    result_ttl=600,
                    failure_ttl=7 * 24 * 3600,
                    depends_on=Dependency(jobs=[prev], allow_failure=True) if prev else None,
                )
                for nid, prev in zip(notification_ids, after, strict=True)
            ]
        )
    except RedisError as exc:
        log.warning(
            "notifications %s not enqueued (%s); the sweeper will retry", notification_ids, exc
        )
