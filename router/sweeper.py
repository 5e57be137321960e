"""Sweeper: nothing stored is stranded — re-enqueue messages and notifications with no live job."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select

from models.db import InboundMessage, NotificationRow, session_scope
from models.types import MessageStatus, utcnow
from router import jobs
from router.intake import enqueue_process, process_job_id
from router.runtime import Runtime

log = logging.getLogger(__name__)

LIVE = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
ABANDONED_AFTER = timedelta(minutes=3)
BATCH = 500


@dataclass
class SweepReport:
    messages: int = 0
    notifications: int = 0


def sweep(
    runtime: Runtime,
    *,
    older_than: timedelta | None = None,
    abandoned_after: timedelta = ABANDONED_AFTER,
) -> SweepReport:
    """One pass; raises RedisError when Redis is still away (the caller tries again later)."""
    older_than = (
        older_than
        if older_than is not None
        else timedelta(seconds=runtime.settings.sweep_after_seconds)
    )
    cutoff = utcnow() - older_than
    report = SweepReport()
    with session_scope(runtime.sessions) as session:
        message_ids = list(
            session.scalars(
                select(InboundMessage.id)
                .where(
                    InboundMessage.status == MessageStatus.queued.value,
                    InboundMessage.created_at <= cutoff,
                )
                .order_by(InboundMessage.id)
                .limit(BATCH)
            )
        )
        note_ids = list(
            session.scalars(
                select(NotificationRow.id)
                .where(NotificationRow.status == "pending", NotificationRow.created_at <= cutoff)
                .order_by(NotificationRow.id)
                .limit(BATCH)
            )
        )
    for mid in message_ids:
        if _stranded(runtime, process_job_id(mid), abandoned_after) and enqueue_process(
            runtime, mid
        ):
            report.messages += 1
    stranded = [n for n in note_ids if _stranded(runtime, jobs.send_job_id(n), abandoned_after)]
    jobs.enqueue_send(runtime, stranded)
    report.notifications = len(stranded)
    if report.messages or report.notifications:
        log.info(
            "sweeper re-enqueued %s message(s), %s notification(s)",
            report.messages,
            report.notifications,
        )
    return report


def _stranded(runtime: Runtime, job_id: str, abandoned_after: timedelta) -> bool:
    """No job, a finished/failed one for a row still pending, or a started one long abandoned."""
    try:
        job = Job.fetch(job_id, connection=runtime.redis)
    except NoSuchJobError:
        return True
    status = job.get_status(refresh=False)
    if status in LIVE:
        return False
    if status == JobStatus.STARTED:
        started = job.started_at or datetime.now(UTC)
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        if datetime.now(UTC) - started < abandoned_after:
            return False
        # The worker died mid-job (its transaction rolled back): run it again.
        job.started_job_registry.remove_executions(job)
    return True


def sweep_forever(runtime: Runtime, stop: object, interval: float) -> None:
    """Loop for a background thread; `stop` is a threading.Event."""
    while not stop.wait(interval):  # type: ignore[attr-defined]
        try:
            sweep(runtime)
        except RedisError as exc:
            log.warning("sweeper: Redis unreachable (%s); will retry", exc)
        except Exception:  # keep sweeping; the error is logged with its traceback
            log.exception("sweeper pass failed")
