"""Several intake messages per RQ job while the intake queue has a backlog (issue #20).

RQ's own life cycle costs ~3–4 ms CPU and ~15 Redis round trips per job, about what our code
costs per message, so one job per message cannot reach half of RQ's no-op drain rate. Under
load, the intake job that has done its own message goes on with the next ones at the head of
the intake queue, through the same code path, until the queue is empty or the batch is full.

Taking a message is one Lua call, atomic in Redis: the job id leaves the head of the queue
list only if it is an intake job (`okno-msg-<id>`) that is plainly queued and not marked
solo; its job hash is set STARTED with `started_at` in the same call. So at every moment each
message has a live job as the sweeper (router/sweeper.py) sees it: queued in the list, or
STARTED — and a worker that dies mid-batch leaves STARTED jobs whose `started_at` ages past
`ABANDONED_AFTER`, which the sweeper re-enqueues (the message's own transaction rolled back or
committed; the job is idempotent either way). The next call marks the message before it
FINISHED, with the job's own result TTL, the way RQ would have left it.

A message that raises inside a batch is handed back: its job is queued again at the head,
marked solo (a batch never takes it again), and RQ runs it alone with its retries and
`on_process_failure`, exactly as if no batch had touched it. The batch stops there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from weakref import WeakKeyDictionary

from redis import Redis
from redis.commands.core import Script
from redis.exceptions import RedisError
from rq.job import Job, get_current_job
from rq.utils import now, utcformat
from sqlalchemy.orm import Session

from router.runtime import INTAKE_QUEUE, Runtime

log = logging.getLogger(__name__)

# An intake job's id is this and the message id (router.intake.process_job_id builds it from
# here: that module imports the jobs, which import this one).
JOB_PREFIX = "okno-msg-"
# A field on the job hash: this job runs alone (a batch handed it back after it raised).
SOLO = "okno_solo"
# KEYS[1]: the intake queue's list. ARGV: now (RQ's utcformat), the job key prefix, the
# intake job id prefix, this worker's name, 1 to take the next message or 0 to only finish,
# then the ids of taken jobs whose message is done (marked finished, as RQ would).
_TAKE = """
local queue = KEYS[1]
local stamp, jobs, prefix, worker, take = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
for i = 6, #ARGV do
  local key = jobs .. ARGV[i]
  if redis.call('hget', key, 'status') == 'started' then
    redis.call('hset', key, 'status', 'finished', 'ended_at', stamp)
    local ttl = tonumber(redis.call('hget', key, 'result_ttl') or '600') or 600
    if ttl == 0 then
      redis.call('del', key)
    elseif ttl > 0 then
      redis.call('expire', key, ttl)
    end
  end
end
if take ~= '1' then
  return false
end
while true do
  local id = redis.call('lindex', queue, 0)
  if not id or string.sub(id, 1, #prefix) ~= prefix then
    return false
  end
  local key = jobs .. id
  local status = redis.call('hget', key, 'status')
  if not status then
    redis.call('lpop', queue)  -- no job behind the id: RQ's dequeue drops it the same way
  elseif status ~= 'queued' or redis.call('hexists', key, 'okno_solo') == 1 then
    return false  -- left where it is, for RQ to run
  else
    redis.call('lpop', queue)
    redis.call('hset', key, 'status', 'started', 'started_at', stamp,
      'last_heartbeat', stamp, 'worker_name', worker)
    return id
  end
end
"""

_scripts: WeakKeyDictionary[Redis, Script] = WeakKeyDictionary()


def _take_script(redis: Redis) -> Script:
    script = _scripts.get(redis)
    if script is None:
        script = _scripts[redis] = redis.register_script(_TAKE)
    return script


def take(runtime: Runtime, *, finished: list[str], more: bool, worker: str = "") -> str | None:
    """Mark `finished` done and, if `more`, take the next intake job id off the queue's head."""
    stamp, jobs = utcformat(now()), Job.redis_job_namespace_prefix
    args: list[str | int] = [stamp, jobs, JOB_PREFIX, worker, int(more), *finished]
    found = _take_script(runtime.redis)(keys=[runtime.queue(INTAKE_QUEUE).key], args=args)
    return found.decode() if isinstance(found, bytes) else found


def hand_back(runtime: Runtime, job_id: str) -> None:
    """A message that raised in a batch: queued again at the head, for RQ to run it alone."""
    key = Job.key_for(job_id)
    with runtime.redis.pipeline() as pipe:
        pipe.hset(key, mapping={"status": "queued", SOLO: 1})
        pipe.lpush(runtime.queue(INTAKE_QUEUE).key, job_id)
        pipe.execute()


def process_backlog(
    runtime: Runtime,
    *,
    work: Callable[[int, Session], Callable[[], None]],
    alone: Callable[[int], object],
) -> int:
    """Inside an intake job whose own message is done: process queued messages while there
    are any, up to `intake_batch_max` per job and for `intake_batch_seconds` (a warm
    shutdown and the other queues wait no longer than that; the job's timeout is far away).

    `work(message_id, session)` does a message's work in the session and returns what to do
    once that is committed; `intake_batch_commit` messages share one transaction (one commit,
    one fsync on PostgreSQL). When one of them raises, the transaction is rolled back, the
    others are done again each alone (`alone(message_id)`, its own transaction), and the one
    that raised is handed back. Returns how many messages it did."""
    job = get_current_job()
    cap = batch_cap(runtime)
    if job is None or job.origin != INTAKE_QUEUE or cap <= 1:
        return 0
    group = _Group(runtime, work, alone, commit_size(runtime))
    deadline = time.monotonic() + runtime.settings.intake_batch_seconds
    worker = job.worker_name or ""
    try:
        while True:
            more = group.taken + 1 < cap and time.monotonic() < deadline
            job_id = take(runtime, finished=group.finished(), more=more, worker=worker)
            if job_id is not None and group.add(job_id):
                continue
            group.commit()
            if group.done:
                take(runtime, finished=group.finished(), more=False)
            return group.count
    except RedisError as exc:  # what was taken stays STARTED: the sweeper re-enqueues it
        log.warning("intake batch stopped (%s); the sweeper re-enqueues what it held", exc)
        with suppress(RedisError):  # a failed commit would hand back (through Redis)
            group.commit()
        return group.count
    finally:
        group.close()


def batch_cap(runtime: Runtime) -> int:
    """Messages one intake job may take: `intake_batch_max`, or 64 on PostgreSQL unless set.

    RQ's own cost per job is paid once per batch; on PostgreSQL, 64 a job with 16 a commit
    against 16 and 8 took end to end from 399 to 426 and from 372 to 423 messages/s (two
    scratch runs, rounds alternating, bench/intake.md round 8). SQLite gained nothing from 64
    (507 against 501): its one writer, not RQ, is what it waits for."""
    settings = runtime.settings
    if "intake_batch_max" in settings.model_fields_set:
        return settings.intake_batch_max
    return settings.intake_batch_max if runtime.engine.dialect.name == "sqlite" else 64


def commit_size(runtime: Runtime) -> int:
    """Messages per transaction: `intake_batch_commit`, or one each on SQLite unless it is set.

    A group saves a commit's fsync per message on PostgreSQL. SQLite (WAL, synchronous=NORMAL)
    does not fsync a commit, but it has one writer: a group would hold the write lock through
    all its messages' work, so the other worker could do none of theirs meanwhile. One message
    per transaction leaves each message's work up to its ticket's INSERT (and RQ's) outside the
    lock, which router/writer_lock.py hands from worker to worker without SQLite's naps."""
    settings = runtime.settings
    if "intake_batch_commit" in settings.model_fields_set:
        return settings.intake_batch_commit
    return 1 if runtime.engine.dialect.name == "sqlite" else settings.intake_batch_commit


class _Group:
    """Taken messages sharing a transaction until `size` of them (or the batch's end)."""

    def __init__(
        self,
        runtime: Runtime,
        work: Callable[[int, Session], Callable[[], None]],
        alone: Callable[[int], object],
        size: int,
    ) -> None:
        self.runtime, self.work, self.alone, self.size = runtime, work, alone, size
        self.session: Session | None = None
        self.open: list[tuple[str, Callable[[], None]]] = []  # done in the open transaction
        self.done: list[str] = []  # committed, their job not yet marked finished
        self.count = 0

    def add(self, job_id: str) -> bool:
        """Do the message's work; False when it raised (the batch stops)."""
        if self.session is None:
            self.session = self.runtime.sessions()
        try:
            after = self.work(int(job_id.removeprefix(JOB_PREFIX)), self.session)
        except Exception as exc:
            self._fail(job_id, exc)
            return False
        self.open.append((job_id, after))
        return len(self.open) < self.size or self.commit()

    def commit(self) -> bool:
        if self.session is None or not self.open:
            return True
        try:
            self.session.commit()
        except Exception as exc:  # nothing of the group stands: each again, alone
            self._fail(None, exc)
            return False
        self.close()
        for job_id, after in self.open:
            _after(job_id, after)
            self.done.append(job_id)
        self.count += len(self.open)
        self.open = []
        return True

    @property
    def taken(self) -> int:
        return self.count + len(self.open)

    def finished(self) -> list[str]:
        """The taken jobs whose message is committed since the last call, to mark finished."""
        done, self.done = self.done, []
        return done

    def close(self) -> None:
        if self.session is not None:
            self.session.close()  # rolls back whatever was not committed
            self.session = None

    def _fail(self, job_id: str | None, exc: Exception) -> None:
        self.close()
        redo, self.open = self.open, []
        if job_id is not None:
            log.warning("message job %s failed in a batch (%r); handed back", job_id, exc)
            hand_back(self.runtime, job_id)
        for other, _ in redo:  # rolled back with it: each again in its own transaction
            try:
                self.alone(int(other.removeprefix(JOB_PREFIX)))
            except Exception as again:
                log.warning("message job %s failed in a batch (%r); handed back", other, again)
                hand_back(self.runtime, other)
                continue
            self.done.append(other)
            self.count += 1


def _after(job_id: str, after: Callable[[], None]) -> None:
    try:
        after()
    except Exception:  # committed: a send left pending is the sweeper's to enqueue
        log.exception("message job %s: its sends after the commit failed", job_id)
