"""Intake's group commit (issue #20): several messages in one transaction, answers as `accept`."""

from __future__ import annotations

import asyncio
import smtplib
from concurrent.futures import ThreadPoolExecutor

import pytest
from psycopg import _queries
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import event, func, select

from channels.email.settings import EmailSettings
from channels.email.smtp_server import IntakeHandler, make_controller
from channels.group_commit import GROUP_MAX
from models.db import InboundMessage, session_scope
from models.types import AcceptResult, MessageStatus
from router import intake as intake_module
from router.intake import (
    PROCESS_RETRY,
    Intake,
    _pg_insert,
    enqueue_many,
    enqueue_many_async,
    enqueue_process,
    process_job_id,
    store_engine,
)
from router.jobs import process_message
from router.runtime import INTAKE_QUEUE, Runtime
from tests.conftest import drain
from tests.support.mail import HELPDESK, free_port
from tests.support.messages import form


def test_accept_many_stores_all_in_one_transaction_and_enqueues_each(runtime: Runtime) -> None:
    commits: list[object] = []
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    commit = commits.append
    engine = store_engine(runtime.engine)
    event.listen(engine, "commit", commit)
    event.listen(engine, "before_cursor_execute", record)
    try:
        results = Intake(runtime).accept_many(
            [(form(f"group-{i}"), b"raw %d" % i if i else None) for i in range(5)]
        )
    finally:
        event.remove(engine, "commit", commit)
        event.remove(engine, "before_cursor_execute", record)
    # one INSERT of all five rows, its own transaction: committed once (SQLite) or in
    # autocommit (PostgreSQL, where the statement is the transaction)
    assert [s.split()[0] for s in statements] == ["INSERT"]
    assert len(commits) == (1 if runtime.engine.dialect.name == "sqlite" else 0)
    assert [r.duplicate for r in results] == [False] * 5
    assert len({r.message_id for r in results}) == 5
    with session_scope(runtime.sessions) as session:
        rows = {r.id: r for r in session.scalars(select(InboundMessage))}
    # ids come back in the order the messages were given, with every column as `store` sets it
    for i, result in enumerate(results):
        row = rows[result.message_id]
        assert row.external_id == f"group-{i}" and row.status == MessageStatus.queued
        assert row.raw == (b"raw %d" % i if i else None) and row.created_at is not None
        assert row.payload["external_id"] == f"group-{i}" and row.attempts == 0
    queued = runtime.queue(INTAKE_QUEUE).job_ids
    assert sorted(queued) == sorted(process_job_id(r.message_id) for r in results)
    drain(runtime)
    with session_scope(runtime.sessions) as session:
        assert {r.status for r in session.scalars(select(InboundMessage))} == {"processed"}


def test_accept_many_answers_duplicates_as_accept_does(runtime: Runtime) -> None:
    intake = Intake(runtime)
    known = intake.accept(form("known"))
    results = intake.accept_many(
        [
            (form("fresh-1"), None),
            (form("known"), None),
            (form("twice"), None),
            (form("twice"), None),
        ]
    )
    assert [r.duplicate for r in results] == [False, True, False, True]
    assert results[1].message_id == known.message_id
    assert results[2].message_id == results[3].message_id
    with session_scope(runtime.sessions) as session:
        assert session.scalar(select(func.count(InboundMessage.id))) == 3
    assert len(runtime.queue(INTAKE_QUEUE).job_ids) == 3  # known's own, fresh-1, twice


@pytest.mark.parametrize("how", ["sync", "asyncio"])
def test_group_enqueue_writes_the_jobs_rq_itself_writes(runtime: Runtime, how: str) -> None:
    """enqueue_many builds the job hashes from a template instead of one RQ Job per message:
    every field, the TTL, the queue list and the queue registry must be what RQ's enqueue
    writes for the same message (only the timestamps differ, and both are RQ's format). Its
    asyncio twin (the SMTP server's loop) writes the same."""
    redis, queue = runtime.redis, runtime.queue(INTAKE_QUEUE)
    assert enqueue_process(runtime, 101) and enqueue_process(runtime, 102)
    by_rq = {mid: redis.hgetall(Job.key_for(process_job_id(mid))) for mid in (101, 102)}
    ttls = {mid: redis.ttl(Job.key_for(process_job_id(mid))) for mid in (101, 102)}
    redis.flushdb()
    if how == "sync":
        assert enqueue_many(runtime, [101, 102, 101])  # a message named twice is one job
    else:
        assert asyncio.run(enqueue_many_async(runtime, [101, 102, 101]))
    assert redis.smembers(Queue.redis_queues_keys) == {queue.key.encode()}
    assert queue.job_ids == [process_job_id(101), process_job_id(102)]
    for mid in (101, 102):
        key = Job.key_for(process_job_id(mid))
        ours = redis.hgetall(key)
        assert redis.ttl(key) == ttls[mid]
        assert ours.keys() == by_rq[mid].keys()
        for field in (b"created_at", b"enqueued_at"):
            assert len(ours.pop(field)) == len(by_rq[mid].pop(field))
        assert ours == by_rq[mid]
        job = Job.fetch(process_job_id(mid), connection=redis)
        assert (job.func, job.args, job.kwargs) == (process_message, (mid,), {})
        assert job.get_status() == JobStatus.QUEUED and job.enqueued_at is not None
        assert job.retries_left == PROCESS_RETRY.max and job.failure_callback is not None


def test_a_group_of_eight_is_one_statement_psycopg_parses_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the group INSERT is short enough for psycopg's cache of parsed queries (the
    multi-row VALUES SQLAlchemy wrote for 8 rows was not, and was parsed again every time)."""
    assert len(_pg_insert(GROUP_MAX)) <= _queries.MAX_CACHED_STATEMENT_LENGTH
    if runtime.engine.dialect.name != "postgresql":
        return
    parsed: list[object] = []
    real = _queries._query2pg_nocache

    def counted(*args: object, **kwargs: object) -> object:
        parsed.append(args[0])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_queries, "_query2pg_nocache", counted)
    intake = Intake(runtime)
    for g in range(3):
        intake.accept_many([(form(f"parse-{g}-{i}"), b"raw") for i in range(8)])
    assert not [q for q in parsed if b"inbound_messages" in bytes(q)]  # type: ignore[arg-type]
    with session_scope(runtime.sessions) as session:
        assert session.scalar(select(func.count(InboundMessage.id))) == 24


def test_smtp_groups_are_answered_at_the_commit_and_every_mail_is_enqueued(
    runtime: Runtime,
) -> None:
    """Our SMTP server over a real Intake: concurrent mails are stored in groups, answered 250,
    and each gets its job, also those whose enqueue was still owed when the server stopped."""
    controller = make_controller(
        Intake(runtime), EmailSettings(email_addresses=HELPDESK), host="127.0.0.1", port=free_port()
    )
    controller.start()

    def send(i: int) -> dict[str, object]:
        raw = b"Subject: group %d\r\nMessage-ID: <smtp-g%d@x.ru>\r\n\r\nbody\r\n" % (i, i)
        with smtplib.SMTP(controller.hostname, controller.port, timeout=10) as client:
            return client.sendmail("ivan@x.ru", [HELPDESK], raw)  # type: ignore[return-value]

    try:
        with ThreadPoolExecutor(6) as pool:
            for _ in range(3):
                assert list(pool.map(send, range(6 * _, 6 * _ + 6))) == [{}] * 6
    finally:
        controller.stop()
        controller.handler.close()
    with session_scope(runtime.sessions) as session:
        ids = session.scalars(select(InboundMessage.id)).all()
    assert len(ids) == 18
    assert sorted(runtime.queue(INTAKE_QUEUE).job_ids) == sorted(process_job_id(i) for i in ids)


def test_an_enqueue_the_stop_cuts_off_after_redis_took_it_is_not_queued_twice(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SMTP server's stop cancels the enqueue running on its loop, perhaps after Redis took
    the MULTI/EXEC and before its answer came back: `close` then queues only the jobs Redis does
    not hold. (Queued again as a whole, the last group's job ids were in the queue twice: the
    test above failed so in full runs.)"""
    handler = IntakeHandler(Intake(runtime), EmailSettings(email_addresses=HELPDESK))
    real = intake_module.enqueue_many_async
    taken = asyncio.Event()

    async def answer_on_the_way(rt: Runtime, message_ids: list[int]) -> bool:
        await real(rt, message_ids)
        taken.set()
        await asyncio.Event().wait()  # the stop comes before Redis's answer
        return True

    monkeypatch.setattr(intake_module, "enqueue_many_async", answer_on_the_way)

    async def serve() -> list[AcceptResult]:
        mails = [handler.group.submit(form(f"cut-{i}"), b"raw") for i in range(3)]
        results = await asyncio.gather(*mails)  # one group: answered at its commit
        await asyncio.wait_for(taken.wait(), 5)
        return results

    results = asyncio.run(serve())  # which then cancels the enqueue, as the server's stop does
    handler.close()
    queued = runtime.queue(INTAKE_QUEUE).job_ids
    assert sorted(queued) == sorted(process_job_id(r.message_id) for r in results)
