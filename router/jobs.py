"""RQ jobs: module-level functions taking ids, re-raising so RQ's retries and registries see it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from models.db import InboundMessage, NotificationRow, session_scope
from models.rows import load_row
from models.types import MessageStatus
from router import batch, catalog_cache, inbound, notify, ordering, recipients, writer_lock
from router.lifecycle import records
from router.runtime import Runtime, current
from router.sends import enqueue_send, hand_off, hand_on, retry_later, send_job_id

log = logging.getLogger(__name__)


def process_message(message_id: int) -> str | None:
    """Thread or route one stored message; safe to run twice (the second run finds it done).

    Under load the job goes on with the messages queued behind it (router/batch.py): RQ's
    per-job cost is then paid once for several messages."""
    runtime = current()
    catalog_cache.sync(runtime.redis)
    writer_lock.attach(runtime.engine)  # SQLite: writers queue in the kernel, not in naps
    number = _process(runtime, message_id)
    batch.process_backlog(
        runtime,
        work=lambda taken, session: _work(runtime, taken, session)[1],
        alone=lambda taken: _process(runtime, taken),
    )
    return number


def _process(runtime: Runtime, message_id: int) -> str | None:
    with session_scope(runtime.sessions) as session:
        number, after_commit = _work(runtime, message_id, session)
    after_commit()
    return number


def _work(
    runtime: Runtime, message_id: int, session: Session
) -> tuple[str | None, Callable[[], None]]:
    """The message's work in `session`, and what to do once that is committed (the sends)."""
    with records.held_for_write_now(session):  # a new ticket's rows go with the last writes
        return _message_work(runtime, message_id, session)


def _message_work(
    runtime: Runtime, message_id: int, session: Session
) -> tuple[str | None, Callable[[], None]]:
    row = load_row(InboundMessage, message_id, session=session, for_update=True)
    if row is None:
        raise LookupError(f"inbound message {message_id} does not exist")
    if row.status != MessageStatus.queued:
        return inbound.ticket_number(row, session=session), _nothing
    parse = runtime.channels.get(row.channel).parse_raw if row.raw is not None else None
    outcome = inbound.process(
        row,
        session=session,
        settings=runtime.settings,
        parse_raw=parse,
        model=lambda: active_model(runtime),
    )
    ids, number = outcome.notification_ids, outcome.ticket.number if outcome.ticket else None
    # A ticket this message opened has no rows but these: none before the first, and those
    # after it are the rest of `ids` (enqueued in its chain), so neither is read.
    new = outcome.created
    local = _try_local(runtime, outcome.notifications[0], session, new=new) if ids else None
    # Read before the commit that makes the send visible as ended (no one can see it
    # pending, so no later send waits on it unseen): saves a transaction per message.
    first = outcome.notifications[0] if local is not None and not new else None
    following = ordering.next_in_line(first, session=session) if first else None
    # The message row's result and its outbox rows, in Core (PostgreSQL: one round trip).
    records.write_now(session, changed=[row], new=outcome.notifications)

    def after_commit() -> None:
        if local is None:
            deliver_first(runtime, ids)
        else:  # the first send was recorded with the ticket: what follows it goes as it would
            rest = ids[1:]
            enqueue_send(runtime, local)
            enqueue_send(runtime, rest)
            hand_on(runtime, ids[0], following, queued=rest)

    return number, after_commit


def _nothing() -> None:
    return None


def _try_local(
    runtime: Runtime, row: NotificationRow, session: Session, *, new: bool = False
) -> list[int] | None:
    try:
        return _send_local(runtime, row, session, new=new)
    except Exception as exc:  # the ticket stands; the send goes the usual way, with its retries
        log.warning("notification %s not recorded with its ticket (%s)", row.id, exc)
        return None


def _send_local(
    runtime: Runtime, row: NotificationRow, session: Session, *, new: bool = False
) -> list[int] | None:
    """The first send on a local channel (the web form's status page), in the transaction that
    wrote the row: the same rules as `_send`, no claim needed (no one else can see the row yet),
    nothing outside the database, so a crash loses or repeats nothing. Returns the ids of any
    e-mail copy or fallback to enqueue after the commit, or None for "send it the usual way".
    `new`: the row is the first of a ticket opened in this transaction (nothing before it)."""
    spec = runtime.channels.get(row.channel)
    if not spec.local or row.status != "pending":
        return None
    if not new and ordering.earlier_unsent(row, session=session):
        return None
    cap = runtime.settings.notify_cap_per_hour
    if notify.suppress(row, cap=cap, channel_enabled=spec.enabled, session=session):
        return []
    if not recipients.may_mail(row, runtime.settings, session=session):
        row.status, row.error = "suppressed", recipients.NOT_OURS
        return []
    value = notify.prepare(row, runtime.settings.public_url, runtime.secret_key, session=session)
    result = spec.send(value)
    email = runtime.channels.get("email").enabled
    return notify.record_result(row, result, email_enabled=email, session=session)


def deliver_first(runtime: Runtime, notification_ids: list[int]) -> None:
    """The first send goes now, in this job: one job per message instead of two.

    The outbox row, committed above, stays the source of truth: `_send` claims it as the job
    would (never twice), and on any trouble every send is enqueued as before, the notify job
    being the retry path (a crash before this line leaves the rows to the sweeper).
    """
    if not notification_ids:
        return
    first, rest = notification_ids[0], notification_ids[1:]
    try:
        status = _send(first)
    except Exception as exc:  # the channel or the database: the job retries it
        log.warning("notification %s not sent inline (%s); its job retries it", first, exc)
        retry_later(runtime, first)
        enqueue_send(runtime, rest, behind=send_job_id(first))
        return
    if status not in ordering.FINAL:
        enqueue_send(runtime, notification_ids)
        return
    enqueue_send(runtime, rest)  # the chain starts after a send that has ended
    hand_off(runtime, first, queued=rest)


def active_model(runtime: Runtime) -> Any:
    """The active classifier model, or None before the first model is trained."""
    if not runtime.settings.registry_dir.exists():
        return None
    return runtime.model_registry().active()


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
    status = _send(notification_id)
    if status in ordering.FINAL:
        hand_off(current(), notification_id)
    return status


def _send(notification_id: int) -> str:
    runtime = current()
    with session_scope(runtime.sessions) as session:
        row = session.get(NotificationRow, notification_id, with_for_update=True)
        if row is None:
            raise LookupError(f"notification {notification_id} does not exist")
        if row.status != "pending":
            return row.status
        if ordering.earlier_unsent(row, session=session):
            return "waiting"  # the earlier send hands this one on when it ends
        spec = runtime.channels.get(row.channel)
        cap = runtime.settings.notify_cap_per_hour
        if notify.suppress(row, cap=cap, channel_enabled=spec.enabled, session=session):
            return row.status
        if not recipients.may_mail(row, runtime.settings, session=session):
            row.status, row.error = "suppressed", recipients.NOT_OURS
            return row.status
        if not notify.claim(notification_id, session=session):
            return "sending"  # another run of this job has it: never deliver twice
        value = notify.prepare(
            row, runtime.settings.public_url, runtime.secret_key, session=session
        )
    try:
        result = spec.send(value)
    except Exception as exc:
        with session_scope(runtime.sessions) as session:
            notify.attempt_failed(notification_id, f"{type(exc).__name__}: {exc}", session=session)
        raise
    # One commit per delivered notification: attempt, outcome and any fallback together.
    with session_scope(runtime.sessions) as session:
        row = session.get(NotificationRow, notification_id)
        assert row is not None
        email = runtime.channels.get("email").enabled
        fallback_ids = notify.record_result(row, result, email_enabled=email, session=session)
        status = row.status
    enqueue_send(runtime, fallback_ids)
    return status


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
            fallback_ids = notify.fallback(row, session=session)
    enqueue_send(runtime, fallback_ids)
    hand_off(runtime, job.args[0])
