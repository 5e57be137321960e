"""Putting sends on the notify queue: deterministic job ids, retries, and the order they go in.

The job functions live in router/jobs.py; RQ is handed them by name, so this module (which the
API, the sweeper and the jobs all use to enqueue) imports no job code.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from redis.exceptions import RedisError
from rq import Callback, Retry
from rq.job import Dependency, Job

from models.db import NotificationRow, session_scope
from router import ordering
from router.runtime import NOTIFY_QUEUE, Runtime

log = logging.getLogger(__name__)

SEND_RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])
SEND_JOB = "router.jobs.send_notification"
ON_SEND_FAILURE = "router.jobs.on_send_failure"


def send_job_id(notification_id: int) -> str:
    return f"okno-notify-{notification_id}"


def _options(retry: Retry = SEND_RETRY) -> dict[str, Any]:
    return {
        "retry": retry,
        "on_failure": Callback(ON_SEND_FAILURE),
        "result_ttl": 600,
        "failure_ttl": 7 * 24 * 3600,
    }


def enqueue_send(
    runtime: Runtime, notification_ids: list[int], *, chain: bool = True, behind: str | None = None
) -> None:
    """Enqueue sends with deterministic ids; on a Redis outage the sweeper picks them up."""
    if not notification_ids:
        return
    queue = runtime.queue(NOTIFY_QUEUE)
    # Each send waits for the one before it, so the requester reads them in the order written
    # (the "created" message before the question that follows it), whichever worker runs them.
    after: list[str | None] = [behind, *(send_job_id(n) for n in notification_ids[:-1])]
    if not chain:  # unrelated rows (the sweeper's) must not wait for each other
        after = [None] * len(notification_ids)
    try:
        queue.enqueue_many(
            [
                queue.prepare_data(
                    SEND_JOB,
                    (nid,),
                    job_id=send_job_id(nid),
                    depends_on=Dependency(jobs=[prev], allow_failure=True) if prev else None,
                    **_options(),
                )
                for nid, prev in zip(notification_ids, after, strict=True)
            ]
        )
    except RedisError as exc:
        log.warning(
            "notifications %s not enqueued (%s); the sweeper will retry", notification_ids, exc
        )


def retry_later(runtime: Runtime, notification_id: int) -> None:
    """An inline try was the first attempt: its job is RQ's first retry, on the same schedule."""
    first, *later = SEND_RETRY.intervals
    try:
        runtime.queue(NOTIFY_QUEUE).enqueue_in(
            timedelta(seconds=first),
            SEND_JOB,
            notification_id,
            job_id=send_job_id(notification_id),
            **_options(Retry(max=SEND_RETRY.max - 1, interval=later)),
        )
    except RedisError as exc:
        log.warning("notification %s not enqueued (%s); the sweeper will", notification_id, exc)


def hand_off(runtime: Runtime, notification_id: int, *, queued: Sequence[int] = ()) -> None:
    """The next send to the same address about the same ticket may go now: enqueue it."""
    with session_scope(runtime.sessions) as session:
        row = session.get(NotificationRow, notification_id)
        following = ordering.next_in_line(row, session=session) if row is not None else None
    hand_on(runtime, notification_id, following, queued=queued)


def hand_on(
    runtime: Runtime, notification_id: int, following: int | None, *, queued: Sequence[int] = ()
) -> None:
    """`hand_off` with the next in line already read (in the transaction that ended the send)."""
    if following is None or following in queued:  # already enqueued in its chain
        return
    job_id = f"{send_job_id(following)}-after-{notification_id}"
    try:
        if not Job.exists(job_id, connection=runtime.redis):
            runtime.queue(NOTIFY_QUEUE).enqueue(SEND_JOB, following, job_id=job_id, **_options())
    except RedisError as exc:
        log.warning("notification %s not handed on (%s); the sweeper will", following, exc)
