"""Sweeper: nothing stored is stranded — re-enqueue messages and notifications with no live job."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select, update

from models.db import InboundMessage, NotificationRow, WebhookDelivery, session_scope
from models.types import MessageStatus, utcnow
from router import sends
from router.intake import enqueue_process, process_job_id
from router.runtime import Runtime
from router.sla_sweep import sla_tick
from router.webhook_jobs import delivery_job_id, enqueue_deliveries

log = logging.getLogger(__name__)

LIVE = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
ABANDONED_AFTER = timedelta(minutes=3)
MAX_ABANDONED = 3
BATCH = 500
# Analytics rollup days built per pass (router/analytics_rollup.py): a year's backlog takes a
# few dozen passes, a night's one day in the first pass after midnight.
ROLLUP_DAYS = 14
# Seconds between passes while Redis is away and just after it came back.
RETRY = 3.0
# After an outage: rows this old have had time to be enqueued by the process that stored them.
RECOVERY_AGE = timedelta(seconds=5)
LOCK_TIMEOUT = 60


@dataclass
class SweepReport:
    messages: int = 0
    notifications: int = 0
    webhooks: int = 0
    breaches: int = 0
    rollup_days: int = 0


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
    _release_abandoned_sends(runtime, utcnow() - abandoned_after)
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
        why = _stranded(runtime, process_job_id(mid), abandoned_after)
        if why == "abandoned" and _gave_up(runtime, mid):
            continue
        if why and enqueue_process(runtime, mid):
            report.messages += 1
    stranded = [n for n in note_ids if _stranded(runtime, sends.send_job_id(n), abandoned_after)]
    sends.enqueue_send(runtime, stranded, chain=False)
    report.notifications = len(stranded)
    report.breaches, report.webhooks = _sweep_webhooks(runtime, cutoff, abandoned_after)
    from router.analytics_rollup import refresh  # numpy: not for every CLI command's start-up

    report.rollup_days = refresh(runtime.sessions, limit=ROLLUP_DAYS)
    if report.messages or report.notifications:
        log.info(
            "sweeper re-enqueued %s message(s), %s notification(s)",
            report.messages,
            report.notifications,
        )
    return report


def _sweep_webhooks(
    runtime: Runtime, cutoff: datetime, abandoned_after: timedelta
) -> tuple[int, int]:
    """SLA warnings and breaches due now (their deliveries go out on commit); lost deliveries."""
    # The SLA sweep thread does this every few seconds; here too costs one indexed query.
    breaches = sla_tick(runtime).breaches
    with session_scope(runtime.sessions) as session:
        pending = list(
            session.scalars(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.created_at <= cutoff)
                .order_by(WebhookDelivery.created_at)
                .limit(BATCH)
            )
        )
    lost = [d for d in pending if _stranded(runtime, delivery_job_id(d), abandoned_after)]
    enqueue_deliveries(lost, runtime=runtime)
    return breaches, len(lost)


def _stranded(runtime: Runtime, job_id: str, abandoned_after: timedelta) -> str | None:
    """Why a pending row has no live job: missing, finished/failed, or abandoned mid-run."""
    try:
        job = Job.fetch(job_id, connection=runtime.redis)
    except NoSuchJobError:
        return "missing"
    status = job.get_status(refresh=False)
    if status in LIVE:
        return None
    if status == JobStatus.STARTED:
        started = job.started_at or datetime.now(UTC)
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        if datetime.now(UTC) - started < abandoned_after:
            return None
        # The worker died mid-job (its transaction rolled back): run it again.
        job.started_job_registry.remove_executions(job)
        return "abandoned"
    return "finished"


def _gave_up(runtime: Runtime, message_id: int) -> bool:
    """A message that keeps killing its worker is marked failed instead of looping forever."""
    key = f"okno:abandoned:{message_id}"
    times = int(runtime.redis.incr(key))
    runtime.redis.expire(key, 7 * 24 * 3600)
    if times <= MAX_ABANDONED:
        return False
    with session_scope(runtime.sessions) as session:
        row = session.get(InboundMessage, message_id)
        if row is not None and row.status == MessageStatus.queued.value:
            row.status = MessageStatus.failed.value
            row.error = f"abandoned: a worker stopped {times} times while processing it"
    log.error("message %s failed: a worker stopped %s times while processing it", message_id, times)
    return True


def _release_abandoned_sends(runtime: Runtime, before: datetime) -> None:
    """A send whose worker died stays `sending`: after a while it is pending again."""
    with session_scope(runtime.sessions) as session:
        session.execute(
            update(NotificationRow)
            .where(NotificationRow.status == "sending", NotificationRow.enqueued_at <= before)
            .values(status="pending")
        )


def sweep_forever(runtime: Runtime, stop: threading.Event) -> None:
    """Loop for a background thread in every worker; outlives Redis and database outages."""
    SweepLoop(runtime).run(stop)


@dataclass
class SweepLoop:
    """Sweep every `sweep_after_seconds / 2`; look at Redis every few seconds in between.

    When Redis was unreachable, or restarted (its run_id changed: a supervisor brought it
    back faster than a sweep interval), sweep every few seconds for a while and take rows
    after a few seconds instead of `sweep_after_seconds`: what was accepted meanwhile was
    never enqueued, or Redis lost it, and should not wait for the usual cut-off.
    """

    runtime: Runtime
    run_id: str | None = None
    redis_down: bool = False
    recovering_until: float = 0.0
    last_sweep: float = 0.0

    def run(self, stop: threading.Event) -> None:
        normal = max(5.0, self.runtime.settings.sweep_after_seconds / 2)
        while not stop.wait(RETRY):
            try:
                self._watch_redis()
                recovering = time.monotonic() < self.recovering_until
                if recovering or time.monotonic() - self.last_sweep >= normal:
                    self.last_sweep = time.monotonic()
                    _locked_sweep(self.runtime, RECOVERY_AGE if recovering else None)
            except RedisError as exc:
                if not self.redis_down:
                    log.warning(
                        "sweeper: Redis unreachable (%s); watching it every %ss", exc, RETRY
                    )
                self.redis_down = True
            except Exception:  # keep sweeping; the error is logged with its traceback
                log.exception("sweeper pass failed")

    def _watch_redis(self) -> None:
        run_id = str(self.runtime.redis.info("server").get("run_id"))
        if self.redis_down or (self.run_id is not None and run_id != self.run_id):
            log.warning("sweeper: Redis is back; sweeping every %s s for a while", RETRY)
            self.recovering_until = time.monotonic() + 2 * self.runtime.settings.sweep_after_seconds
        self.run_id, self.redis_down = run_id, False


def _locked_sweep(runtime: Runtime, older_than: timedelta | None) -> None:
    # One sweeper at a time across all workers, so two never enqueue the same row. The lock
    # expires by itself when its holder dies (kill -9) or Redis restarts without it.
    lock = runtime.redis.lock("okno:sweeper", timeout=LOCK_TIMEOUT, blocking=False)
    if not lock.acquire():
        return
    try:
        sweep(runtime, older_than=older_than)
    finally:
        lock.release()
