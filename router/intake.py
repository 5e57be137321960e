"""Intake: store every message once (the idempotency key), then enqueue its processing."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
import zlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

from redis import Redis
from redis import asyncio as aioredis
from redis.connection import Connection as SyncConnection
from redis.connection import UnixDomainSocketConnection
from redis.exceptions import RedisError
from redis.typing import EncodableT
from rq import Callback, Queue, Retry
from rq.job import Job
from rq.utils import get_call_string, utcformat
from rq.utils import now as rq_now
from sqlalchemy import Connection, Engine, create_engine, event, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from models.db import InboundMessage, Ticket, UTCDateTime, make_engine, session_scope
from models.types import AcceptResult, IncomingMessage, MessageStatus, utcnow
from router import batch, jobs
from router.runtime import INTAKE_QUEUE, Runtime

log = logging.getLogger(__name__)

PROCESS_RETRY = Retry(max=3, interval=[2, 10, 60])
# Every intake job, enqueued alone or in a pipeline: retries, then marked failed, kept a week.
PROCESS_OPTIONS: dict[str, Any] = {
    "retry": PROCESS_RETRY,
    "on_failure": Callback(jobs.on_process_failure),
    "result_ttl": 600,
    "failure_ttl": 7 * 24 * 3600,
}


def process_job_id(message_id: int) -> str:
    return f"{batch.JOB_PREFIX}{message_id}"


class Intake:
    """The `accept` function every channel is handed: stored before acknowledged."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def __call__(self, message: IncomingMessage, *, raw: bytes | None = None) -> AcceptResult:
        return self.accept(message, raw=raw)

    def accept(self, message: IncomingMessage, *, raw: bytes | None = None) -> AcceptResult:
        """Store the message (or find the stored one) and enqueue it; DB errors propagate."""
        result = store(message, raw=raw, sessions=self.runtime.sessions)
        if not result.duplicate:
            enqueue_process(self.runtime, result.message_id)
        return result

    def accept_many(
        self, items: Sequence[tuple[IncomingMessage, bytes | None]]
    ) -> list[AcceptResult]:
        """Group commit: several channels' messages stored in one transaction, then enqueued in
        one Redis round trip. Every result means "stored" exactly as `accept`'s does: the caller
        acknowledges none of them before this returns, and a failure stores none of them."""
        results = self.store_many(items)
        self.enqueue_stored(results)
        return results

    def store_many(
        self, items: Sequence[tuple[IncomingMessage, bytes | None]]
    ) -> list[AcceptResult]:
        """`accept_many`'s first half: stored in one transaction, nothing enqueued yet. A caller
        that answers after this hands the results to `enqueue_stored` (what it never hands over,
        the sweeper enqueues: it enqueues every stored message that has no job)."""
        return store_many(items, sessions=self.runtime.sessions)

    def store_many_now(
        self, items: Sequence[tuple[IncomingMessage, bytes | None]]
    ) -> list[AcceptResult] | None:
        """`store_many` when it needs no waiting (a caller on an event loop tries this first);
        None: call `store_many`, where waiting is fine."""
        return store_many_now(items, sessions=self.runtime.sessions)

    def enqueue_stored(self, results: Sequence[AcceptResult]) -> None:
        """`accept_many`'s second half: the new ones among the stored messages, enqueued in one
        round trip; a Redis outage leaves them to the sweeper."""
        enqueue_many(self.runtime, [r.message_id for r in results if not r.duplicate])

    async def enqueue_stored_async(self, results: Sequence[AcceptResult]) -> None:
        """`enqueue_stored` for a caller on an event loop, without leaving it."""
        await enqueue_many_async(self.runtime, [r.message_id for r in results if not r.duplicate])

    def enqueue_missing(self, results: Sequence[AcceptResult]) -> None:
        """`enqueue_stored` for results whose `enqueue_stored_async` a stopping loop cut off:
        Redis may hold those jobs already (cancelled while it waited for the answer)."""
        enqueue_missing(self.runtime, [r.message_id for r in results if not r.duplicate])


def store_many(
    items: Sequence[tuple[IncomingMessage, bytes | None]], *, sessions: sessionmaker[Session]
) -> list[AcceptResult]:
    """`store` for several messages in one transaction; a known key among them (or the same key
    twice) falls back to storing them one by one, so each gets the answer `store` would give."""
    if len(items) == 1:
        message, raw = items[0]
        return [store(message, raw=raw, sessions=sessions)]
    try:
        ids = _insert(items, sessions=sessions)
    except IntegrityError:
        return [store(message, raw=raw, sessions=sessions) for message, raw in items]
    return _queued(ids)


def _queued(ids: list[int]) -> list[AcceptResult]:
    """What a store answers for the messages it has just inserted under these ids."""
    return [AcceptResult(message_id=i, duplicate=False, status=MessageStatus.queued) for i in ids]


# SQLite: Core, not the unit of work: one multi-row INSERT … RETURNING. Each row comes back with
# its key, not in the items' order: asking SQLAlchemy for that order makes SQLite insert row by row.
_INSERT = insert(InboundMessage).returning(
    InboundMessage.id, InboundMessage.channel, InboundMessage.external_id
)


# PostgreSQL: the same INSERT in SQL of our own, with positional parameters. SQLAlchemy's
# multi-row VALUES for a group of 8 (named parameters, each with a cast) is longer than psycopg's
# 4,096-character cache of parsed queries, so psycopg parsed it again for every group, ~0.1 ms
# of the SMTP server's CPU per mail; this text stays under it up to GROUP_MAX rows, and psycopg
# prepares it on the server once it has seen it 5 times. A column added to inbound_messages with
# a default on the Python side must be added here too (the group tests on PostgreSQL fail if not).
_PG_ROW = "(%s, %s, %s::json, %s, %s, 0, %s)"


@lru_cache(maxsize=128)
def _pg_insert(rows: int) -> str:
    return (
        "INSERT INTO inbound_messages (channel, external_id, payload, raw, status, attempts, "
        f"created_at) VALUES {', '.join([_PG_ROW] * rows)} RETURNING id, channel, external_id"
    )


def _insert(
    items: Sequence[tuple[IncomingMessage, bytes | None]], *, sessions: sessionmaker[Session]
) -> list[int]:
    """Insert the rows in one transaction, committed when this returns; IntegrityError if a key
    is known (nothing of the batch is stored then).

    PostgreSQL's connections come without a ping (`store_engine`): a connection the server
    dropped while idle fails its INSERT instead, and the INSERT is tried once more on a new one.
    Had the lost one committed before its answer was lost, the second try finds the keys known:
    IntegrityError, and `store` then answers each as the duplicate it is (its job is then the
    sweeper's to enqueue, as for every stored message without one)."""
    engine = store_engine(sessions.kw["bind"])
    try:
        return _insert_once(items, engine)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.warning("intake: the database connection was lost (%s); trying once more", exc.orig)
        return _insert_once(items, engine)


def _insert_once(
    items: Sequence[tuple[IncomingMessage, bytes | None]], engine: Engine
) -> list[int]:
    now = utcnow()
    with _one_statement(engine) as connection:
        if connection.dialect.name == "postgresql":
            queued = MessageStatus.queued.value
            stamp = UTCDateTime().process_bind_param(now, connection.dialect)
            params: list[Any] = []
            for message, raw in items:
                payload = json.dumps(message.model_dump(mode="json"))
                params += (message.channel.value, message.external_id, payload, raw, queued, stamp)
            rows = connection.exec_driver_sql(_pg_insert(len(items)), tuple(params)).all()
        else:
            values = [
                {
                    "channel": message.channel.value,
                    "external_id": message.external_id,
                    "payload": message.model_dump(mode="json"),
                    "raw": raw,
                    "status": MessageStatus.queued.value,
                    "created_at": now,
                }
                for message, raw in items
            ]
            rows = connection.execute(_INSERT, values).all()
    ids: dict[tuple[str, str], int] = {(channel, key): id_ for id_, channel, key in rows}
    return [ids[(message.channel.value, message.external_id)] for message, _ in items]


def _one_statement(engine: Engine) -> AbstractContextManager[Connection]:
    """A connection of `store_engine` for one INSERT that is its own transaction, committed when
    the block ends.

    No ORM session (nothing here needs its unit of work or its events). PostgreSQL runs the
    statement in autocommit, its own transaction: the answer comes after the commit, and the
    client's BEGIN and COMMIT round trips are saved (~0.05 ms of CPU a message in groups of 8).
    SQLite keeps the plain transaction: its autocommit switch costs more than it saves there."""
    if engine.dialect.name == "sqlite":
        return engine.begin()
    return engine.connect()


# Engines made beside the runtime's engine for the intake's INSERT, one of each kind per engine,
# disposed with it: PostgreSQL's pool in autocommit without ping; SQLite's that never waits.
_store_engines: dict[str, weakref.WeakKeyDictionary[Engine, Engine]] = {
    "autocommit": weakref.WeakKeyDictionary(),
    "no-wait": weakref.WeakKeyDictionary(),
}
_store_engines_lock = threading.Lock()


def store_engine(engine: Engine, *, wait: bool = True) -> Engine:
    """What the intake's INSERT runs on.

    PostgreSQL: the intake's own pool beside `engine`'s, of connections in autocommit and
    without `pool_pre_ping`. The ping is a SELECT 1 and two autocommit switches on every
    checkout, one more round trip to the server per group of messages (~4 % of the SMTP
    server's CPU under load); `_insert` retries a lost connection instead.

    SQLite: `engine` itself, or with `wait=False` an engine whose connections never wait for
    another writer (busy timeout 0: "database is locked" at once), for `store_many_now`."""
    if engine.dialect.name == "sqlite":
        if wait:
            return engine
        kind, make = "no-wait", partial(make_engine, engine.url, busy_timeout=0)
    else:
        kind = "autocommit"
        make = partial(create_engine, engine.url, isolation_level="AUTOCOMMIT", pool_pre_ping=False)
    with _store_engines_lock:
        found = _store_engines[kind].get(engine)
        if found is None:
            found = _store_engines[kind][engine] = make()
            event.listen(engine, "engine_disposed", _disposer(found))
        return found


def _disposer(derived: Engine) -> Callable[[Engine], None]:
    return lambda _engine: derived.dispose()


def store_many_now(
    items: Sequence[tuple[IncomingMessage, bytes | None]], *, sessions: sessionmaker[Session]
) -> list[AcceptResult] | None:
    """`store_many` if it can be done without waiting, for a caller on an event loop; None if
    not: the caller then runs `store_many` where it may wait (its executor).

    Not waiting means: SQLite, no other writer holds the database (a busy timeout of 0);
    PostgreSQL, an idle connection in the pool (no connect, no retry). What it then waits for
    is one INSERT's answer (SQLite: its commit, now and then a checkpoint). A known key, a
    locked database, a lost connection: None, and `store_many` does it all again, as it would
    have from the start (nothing of a failed INSERT was stored)."""
    engine = store_engine(sessions.kw["bind"], wait=False)
    if engine.dialect.name != "sqlite" and engine.pool.checkedin() == 0:  # type: ignore[attr-defined]
        return None
    try:
        ids = _insert_once(items, engine)
    except DBAPIError:
        return None
    return _queued(ids)


def store(
    message: IncomingMessage, *, raw: bytes | None, sessions: sessionmaker[Session]
) -> AcceptResult:
    """Insert into the raw intake log; a known (channel, external_id) returns the stored row."""
    try:
        (message_id,) = _insert([(message, raw)], sessions=sessions)
    except IntegrityError:
        with session_scope(sessions) as session:
            return find_existing(message, session=session)
    return AcceptResult(message_id=message_id, duplicate=False, status=MessageStatus.queued)


def find_existing(message: IncomingMessage, *, session: Session) -> AcceptResult:
    row = session.scalar(
        select(InboundMessage).where(
            InboundMessage.channel == message.channel.value,
            InboundMessage.external_id == message.external_id,
        )
    )
    if row is None:  # the unique violation came from elsewhere: let the caller see it
        raise LookupError(f"intake conflict for {message.channel}:{message.external_id}")
    number = session.scalar(select(Ticket.number).where(Ticket.id == row.ticket_id))
    return AcceptResult(
        message_id=row.id, duplicate=True, status=MessageStatus(row.status), ticket_number=number
    )


def enqueue_process(runtime: Runtime, message_id: int) -> bool:
    """Enqueue processing with a deterministic job id; a Redis outage leaves it to the sweeper."""
    try:
        runtime.queue(INTAKE_QUEUE).enqueue(
            jobs.process_message,
            message_id,
            job_id=process_job_id(message_id),
            **PROCESS_OPTIONS,
        )
    except RedisError as exc:
        log.warning(
            "message %s stored but not enqueued (%s); the sweeper will retry", message_id, exc
        )
        return False
    return True


def _not_enqueued(message_ids: list[int], exc: BaseException) -> bool:
    """Stored, their jobs not in Redis: said once, and False (the sweeper enqueues them)."""
    log.warning(
        "messages %s stored but not enqueued (%s); the sweeper will retry", message_ids, exc
    )
    return False


def enqueue_many(runtime: Runtime, message_ids: list[int]) -> bool:
    """`enqueue_process` for several messages in one MULTI/EXEC: the same jobs, one round trip.

    The job hashes are the ones RQ's own enqueue writes (tests/router/test_group_commit.py
    compares them field by field), made from one RQ job per queue and only the fields that
    differ per message filled in: RQ builds a whole Job object per message, ~0.1 ms of the
    SMTP server's CPU per mail."""
    message_ids = list(dict.fromkeys(message_ids))  # one job per message, as RQ insists
    if not message_ids:
        return True
    queue = runtime.queue(INTAKE_QUEUE)
    try:
        pipe = queue.connection.pipeline()
        _enqueue_commands(pipe, queue, message_ids)
        pipe.execute()
    except RedisError as exc:
        return _not_enqueued(message_ids, exc)
    return True


def enqueue_missing(runtime: Runtime, message_ids: list[int]) -> bool:
    """`enqueue_many` for those of the messages that have no job: an enqueue whose MULTI/EXEC
    may have reached Redis is not pushed onto the queue a second time (all of its jobs exist,
    or none). One more round trip, for the enqueues a stopping server cut off only."""
    message_ids = list(dict.fromkeys(message_ids))
    if not message_ids:
        return True
    try:
        with runtime.redis.pipeline(transaction=False) as pipe:
            for mid in message_ids:
                pipe.exists(Job.key_for(process_job_id(mid)))
            found = pipe.execute()
    except RedisError as exc:
        return _not_enqueued(message_ids, exc)
    return enqueue_many(runtime, [m for m, n in zip(message_ids, found, strict=True) if not n])


async def enqueue_many_async(runtime: Runtime, message_ids: list[int]) -> bool:
    """`enqueue_many` from an event loop, through an asyncio client of the same Redis: the same
    commands, without handing them to a thread and back (issue #20: that hand-over cost the
    SMTP server as much CPU as the enqueue itself). A client it cannot copy (TLS): a thread."""
    message_ids = list(dict.fromkeys(message_ids))
    if not message_ids:
        return True
    client = _async_client(runtime.redis)
    if client is None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, enqueue_many, runtime, message_ids)
    queue = runtime.queue(INTAKE_QUEUE)
    try:
        async with client.pipeline() as pipe:
            _enqueue_commands(pipe, queue, message_ids)
            await pipe.execute()
    except (RedisError, OSError, TimeoutError) as exc:
        return _not_enqueued(message_ids, exc)
    return True


def _enqueue_commands(pipe: Any, queue: Queue, message_ids: list[int]) -> None:
    """The MULTI/EXEC of `enqueue_many` (sync or asyncio pipeline alike)."""
    template = _process_template(queue)
    stamp = utcformat(rq_now())
    dumps = queue.serializer.dumps
    pipe.sadd(queue.redis_queues_keys, queue.key)
    for mid in message_ids:
        mapping = template.mapping.copy()
        mapping["created_at"] = mapping["enqueued_at"] = stamp
        mapping["data"] = zlib.compress(dumps((template.func_name, None, (mid,), {})))
        mapping["description"] = get_call_string(template.func_name, (mid,), {}) or ""
        pipe.hset(Job.key_for(process_job_id(mid)), mapping=mapping)
    pipe.rpush(queue.key, *(process_job_id(mid) for mid in message_ids))


# One asyncio client per sync client and event loop (an asyncio connection belongs to the loop
# it was opened on); the loop or the sync client going away takes its entry with it.
_async_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, weakref.WeakKeyDictionary[Redis, aioredis.Redis | None]
] = weakref.WeakKeyDictionary()


def _async_client(sync: Redis) -> aioredis.Redis | None:
    """An asyncio client to the server `sync` talks to (TCP or a Unix socket, the same database,
    credentials and timeouts); None for a connection it does not copy (TLS, anything else)."""
    per_loop = _async_clients.setdefault(asyncio.get_running_loop(), weakref.WeakKeyDictionary())
    if sync not in per_loop:
        pool = sync.connection_pool
        kw = pool.connection_kwargs
        common: dict[str, Any] = {
            "db": kw.get("db", 0),
            "username": kw.get("username"),
            "password": kw.get("password"),
            "socket_timeout": kw.get("socket_timeout"),
            "socket_connect_timeout": kw.get("socket_connect_timeout"),
        }
        client: aioredis.Redis | None = None
        if pool.connection_class is UnixDomainSocketConnection:
            client = aioredis.Redis(unix_socket_path=kw["path"], **common)
        elif pool.connection_class is SyncConnection:
            client = aioredis.Redis(host=kw["host"], port=kw["port"], **common)
        per_loop[sync] = client
    return per_loop[sync]


@dataclass(frozen=True)
class _Template:
    func_name: str
    mapping: dict[EncodableT, EncodableT]


_templates: dict[tuple[str, int], _Template] = {}


def _process_template(queue: Queue) -> _Template:
    """An intake job as RQ saves it on `enqueue` (status queued, origin, timeout, callbacks,
    retries, TTLs), built by RQ once per queue; enqueue_many fills in the per-message fields."""
    key = (queue.name, id(queue.serializer))
    if key not in _templates:
        job = queue.create_job(
            jobs.process_message, args=(0,), job_id=process_job_id(0), **PROCESS_OPTIONS
        )
        job.origin = queue.name  # what RQ's enqueue adds to a created job before saving it
        job.enqueued_at = rq_now()
        mapping = job.to_dict()
        assert job.func_name is not None
        _templates[key] = _Template(job.func_name, mapping)
    return _templates[key]


def mark_enqueued(message_ids: list[int], *, session: Session) -> None:
    now = utcnow()
    for row in session.scalars(select(InboundMessage).where(InboundMessage.id.in_(message_ids))):
        row.enqueued_at = now
