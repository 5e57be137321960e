"""Several intake messages per RQ job under load (router/batch.py, issue #20), with every
promise of one job per message kept: one ticket each, retries, the sweeper after a crash."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from rq import SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select, update

from models.db import InboundMessage, NotificationRow, Ticket
from router import batch, jobs
from router.intake import Intake, process_job_id
from router.runtime import INTAKE_QUEUE, NOTIFY_QUEUE, Runtime, use_runtime
from router.sweeper import sweep
from tests.conftest import ROOT, drain
from tests.scripts.test_worker_crash import tickets_locked, wait_for
from tests.support.messages import form


class CountingWorker(SimpleWorker):
    """A SimpleWorker that counts the jobs RQ itself ran."""

    ran: list[str]

    def execute_job(self, job: Job, queue: Any) -> Any:
        self.ran.append(job.id)
        return super().execute_job(job, queue)


def run_intake(runtime: Runtime) -> list[str]:
    worker = CountingWorker([runtime.queue(INTAKE_QUEUE)], connection=runtime.redis)
    worker.ran = []
    worker.work(burst=True, with_scheduler=False)
    return worker.ran


def accept(runtime: Runtime, count: int, tag: str = "b") -> list[int]:
    intake = Intake(runtime)
    return [
        intake.accept(form(f"{tag}-{i}", sender_address=f"u{i}@corp.example.com")).message_id
        for i in range(count)
    ]


def statuses(runtime: Runtime) -> dict[int, str]:
    with runtime.sessions() as session:
        return {i: s for i, s in session.execute(select(InboundMessage.id, InboundMessage.status))}


def tickets_per_message(runtime: Runtime) -> dict[int | None, int]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Ticket.source_message_id, func.count()).group_by(Ticket.source_message_id)
        )
        return {i: n for i, n in rows}


def test_the_job_prefix_is_intakes() -> None:
    assert process_job_id(42) == f"{batch.JOB_PREFIX}42"


def test_a_backlog_is_drained_by_few_jobs(runtime: Runtime) -> None:
    runtime = with_cap(runtime, 16)
    ids = accept(runtime, 10)
    ran = run_intake(runtime)
    assert ran == [process_job_id(ids[0])]  # the first job took the nine queued behind it
    assert set(statuses(runtime).values()) == {"processed"}
    assert tickets_per_message(runtime) == dict.fromkeys(ids, 1)
    with runtime.sessions() as session:  # each "created" sent after its group's commit
        sent = session.scalars(select(NotificationRow.status)).all()
    assert sent == ["sent"] * 10
    for message_id in ids[1:]:  # left as RQ leaves a finished job, result TTL included
        job = Job.fetch(process_job_id(message_id), connection=runtime.redis)
        assert job.get_status() == JobStatus.FINISHED
        assert job.started_at is not None and job.ended_at is not None
        assert 0 < int(runtime.redis.ttl(job.key)) <= 600


def with_cap(runtime: Runtime, cap: int, seconds: float = 60, commit: int = 8) -> Runtime:
    """The runtime the jobs use, with another batch cap (and no time cap worth the name)."""
    update = {"intake_batch_max": cap, "intake_batch_seconds": seconds}
    update["intake_batch_commit"] = commit
    settings = runtime.settings.model_copy(update=update)
    other = dataclasses.replace(runtime, settings=settings, _queues={})
    use_runtime(other)
    return other


def test_a_batch_is_capped(runtime: Runtime) -> None:
    capped = with_cap(runtime, 4)
    ids = accept(capped, 10)
    assert run_intake(capped) == [process_job_id(ids[i]) for i in (0, 4, 8)]
    assert tickets_per_message(capped) == dict.fromkeys(ids, 1)


def test_one_message_per_job_when_batching_is_off(runtime: Runtime) -> None:
    off = with_cap(runtime, 1)
    ids = accept(off, 5)
    assert run_intake(off) == [process_job_id(i) for i in ids]


def test_other_jobs_and_solo_jobs_stay_for_rq(runtime: Runtime) -> None:
    runtime = with_cap(runtime, 16)
    first, second, third = accept(runtime, 3)
    queue = runtime.queue(INTAKE_QUEUE)
    other = queue.enqueue("scripts.bench_jobs.noop", 1, job_id="not-a-message")
    runtime.redis.lrem(queue.key, 0, other.id)
    runtime.redis.linsert(queue.key, "AFTER", process_job_id(first), other.id)
    # [first, other, second, third]: the batch of `first` stops at `other`, left in place.
    ran = run_intake(runtime)
    assert ran == [process_job_id(first), other.id, process_job_id(second)]
    assert tickets_per_message(runtime) == {first: 1, second: 1, third: 1}


def break_payload(runtime: Runtime, message_id: int) -> None:
    """A stored row no longer readable as a message: processing it raises, every time."""
    with runtime.sessions.begin() as session:
        session.execute(
            update(InboundMessage).where(InboundMessage.id == message_id).values(payload={})
        )


def test_a_message_that_raises_in_a_batch_is_retried_alone(runtime: Runtime) -> None:
    runtime = with_cap(runtime, 16)
    ids = accept(runtime, 6)
    bad = ids[2]
    break_payload(runtime, bad)
    ran = run_intake(runtime)
    # ids[0] took ids[1] and ids[2]; ids[2] raised and went back, alone, to the head; RQ ran it
    # (it raised again: a retry is scheduled); then ids[3]'s job took the rest.
    assert ran == [process_job_id(ids[0]), process_job_id(bad), process_job_id(ids[3])]
    done = statuses(runtime)
    assert {i: done[i] for i in ids if i != bad} == dict.fromkeys(set(ids) - {bad}, "processed")
    assert done[bad] == "queued"
    job = Job.fetch(process_job_id(bad), connection=runtime.redis)
    assert job.get_status() == JobStatus.SCHEDULED and job.retries_left == 2
    # RQ's remaining retries, then on_process_failure, exactly as without batches.
    registry = ScheduledJobRegistry(INTAKE_QUEUE, connection=runtime.redis)
    for _ in range(3):
        assert job.id in registry.get_job_ids()
        registry.requeue(job.id, at_front=True)
        accept(runtime, 2, tag=f"more-{_}")  # a backlog behind it: the solo job stays alone
        assert run_intake(runtime)[0] == job.id
    assert job.id not in registry.get_job_ids()
    with runtime.sessions() as session:
        row = session.get(InboundMessage, bad)
        assert row is not None and row.status == "failed" and row.error
    assert set(statuses(runtime).values()) == {"processed", "failed"}


@pytest.mark.parametrize("commit", [1, 16])
def test_a_message_that_raises_in_a_shared_transaction_spoils_no_other(
    runtime: Runtime, commit: int
) -> None:
    """The transaction it shared is rolled back: the messages before it are done again, each
    alone; it goes back to RQ; the batch's job ends there and the next one takes the rest."""
    runtime = with_cap(runtime, 16, commit=commit)
    ids = accept(runtime, 12)
    bad = ids[6]
    break_payload(runtime, bad)
    ran = run_intake(runtime)
    assert ran == [process_job_id(ids[0]), process_job_id(bad), process_job_id(ids[7])]
    done = statuses(runtime)
    assert [done[i] for i in ids] == ["processed"] * 6 + ["queued"] + ["processed"] * 5
    assert tickets_per_message(runtime) == {i: 1 for i in ids if i != bad}
    job = Job.fetch(process_job_id(bad), connection=runtime.redis)
    assert job.get_status() == JobStatus.SCHEDULED and job.retries_left == 2
    for message_id in ids[1:6]:
        job = Job.fetch(process_job_id(message_id), connection=runtime.redis)
        assert job.get_status() == JobStatus.FINISHED


def test_taken_jobs_of_a_dead_worker_are_swept_once(runtime: Runtime) -> None:
    """A worker that died mid-batch leaves its taken jobs STARTED: live for the sweeper until
    they are abandoned, then re-enqueued; one ticket each in the end."""
    ids = accept(runtime, 5)
    taken = [batch.take(runtime, finished=[], more=True) for _ in range(3)]
    assert taken == [process_job_id(i) for i in ids[:3]]
    for job_id in taken:
        assert Job.fetch(job_id, connection=runtime.redis).get_status() == JobStatus.STARTED
    # The worker died here. Within ABANDONED_AFTER nothing is re-enqueued…
    assert sweep(runtime, older_than=timedelta(0)).messages == 0
    # …after it, the three taken jobs are.
    report = sweep(runtime, older_than=timedelta(0), abandoned_after=timedelta(0))
    assert report.messages == 3
    drain(runtime)
    assert tickets_per_message(runtime) == dict.fromkeys(ids, 1)
    assert sweep(runtime, older_than=timedelta(0), abandoned_after=timedelta(0)).messages == 0


def worker_env(runtime: Runtime) -> dict[str, str]:
    settings = runtime.settings
    return {
        **os.environ,
        "OKNO_DATABASE_URL": settings.effective_database_url,
        "OKNO_REDIS_URL": runtime.redis_url,
        "OKNO_DATA_DIR": str(settings.data_dir),
        "OKNO_LOG_LEVEL": "WARNING",
    }


def start_worker(runtime: Runtime) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "scripts.cli", "worker", "--burst", "--no-sweeper"]
    queues = ["--queues", f"{INTAKE_QUEUE},{NOTIFY_QUEUE}"]
    return subprocess.Popen(
        argv + queues,
        cwd=ROOT,
        env=worker_env(runtime),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_worker_killed_mid_batch_leaves_one_ticket_each(runtime: Runtime) -> None:
    head, *ids = accept(runtime, 5)
    with runtime.sessions.begin() as session:  # done already: its job touches no ticket
        session.execute(
            update(InboundMessage).where(InboundMessage.id == head).values(status="rejected")
        )
    taken = process_job_id(ids[0])
    with tickets_locked(runtime.settings.effective_database_url):
        worker = start_worker(runtime)
        try:  # head's job took ids[0] and waits for the lock inside its transaction
            wait_for(
                lambda: (
                    Job.fetch(taken, connection=runtime.redis).get_status() == JobStatus.STARTED
                ),
                timeout=60,
            )
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
    assert tickets_per_message(runtime) == {}
    assert runtime.queue(INTAKE_QUEUE).job_ids == [process_job_id(i) for i in ids[1:]]
    report = sweep(runtime, older_than=timedelta(0), abandoned_after=timedelta(0))
    assert report.messages == 1  # ids[0]; the others' jobs are still queued
    drain(runtime)
    assert tickets_per_message(runtime) == dict.fromkeys(ids, 1)


@pytest.mark.parametrize("copies", [2])
def test_batches_and_plain_jobs_racing_make_one_ticket_each(runtime: Runtime, copies: int) -> None:
    """Each message's job twice in the queue, two worker processes: batches take some copies
    while RQ runs others of the same messages at the same time; one ticket per message."""
    ids = accept(runtime, 40, tag="race")
    queue = runtime.queue(INTAKE_QUEUE)
    runtime.redis.delete(queue.key)  # [1, 1, 2, 2, …]: the copies of one message side by side
    runtime.redis.rpush(queue.key, *(process_job_id(i) for i in ids for _ in range(copies)))
    workers = [start_worker(runtime) for _ in range(2)]
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    drain(runtime)  # any retry RQ scheduled after a lost race: run it now
    for job_id in ScheduledJobRegistry(INTAKE_QUEUE, connection=runtime.redis).get_job_ids():
        ScheduledJobRegistry(INTAKE_QUEUE, connection=runtime.redis).requeue(job_id)
    drain(runtime)
    assert set(statuses(runtime).values()) == {"processed"}
    assert tickets_per_message(runtime) == dict.fromkeys(ids, 1)
    assert jobs.process_message(ids[0]) is not None  # and a late run finds it done
