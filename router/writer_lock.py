"""SQLite's one writer handed over without naps: a kernel lock queues the workers (issue #20).

SQLite lets one transaction write at a time. A second writer waits in SQLite's busy handler,
which sleeps 1, 2, 5, 10, 15 … ms between tries; two workers then take turns badly: the one
that just committed takes the lock again before the sleeper wakes, the sleeper's naps grow,
and one worker writes while the other mostly sleeps (two workers ran at one worker's rate).

An exclusive flock on a file next to the database, taken just before a transaction's first
write and released right after its commit or rollback, queues the writers in the kernel
instead: the next one runs the moment the lock is free, and the others do their reads and
their pure work (a message up to its ticket's INSERT, RQ's own bookkeeping) meanwhile.

It is advisory: only engines it is attached to (the workers') take it; anyone else (the API)
still meets SQLite's own lock and busy timeout, and nothing depends on it for correctness,
since SQLite still serialises the writers. A process that dies releases it (the kernel closes
its files). A thread that already holds it through another connection (a nested session)
does not wait for itself: that write meets SQLite's busy timeout, as it did before.
"""

from __future__ import annotations

import fcntl
import os
import threading
from typing import Any

from sqlalchemy import Engine, event

_ATTACHED = "okno_writer_lock"
_FD = "okno_writer_lock_fd"
_HELD = "okno_writer_lock_held"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")

_threads = threading.local()  # .held: [how many writer locks this thread holds] (nested sessions)


def _held() -> list[int]:
    box: list[int] | None = getattr(_threads, "held", None)
    if box is None:
        box = _threads.held = [0]
    return box


def lock_path(engine: Engine) -> str | None:
    """The lock file of a file-backed SQLite database; None for anything else."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return os.path.abspath(url.database) + ".writer-lock"


def attach(engine: Engine) -> bool:
    """Queue this engine's writers on the lock (once per engine); False if not SQLite."""
    if getattr(engine, _ATTACHED, False):
        return True
    path = lock_path(engine)
    if path is None:
        return False
    setattr(engine, _ATTACHED, True)

    def before_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        _take(conn, statement, path)

    event.listen(engine, "before_cursor_execute", before_execute)
    event.listen(engine, "commit", _commit)
    event.listen(engine, "rollback", _rollback)
    event.listen(engine.pool, "reset", _reset)
    event.listen(engine.pool, "close", _close)
    return True


def attached(engine: Engine) -> bool:
    return bool(getattr(engine, _ATTACHED, False))


def _take(conn: Any, statement: str, path: str) -> None:
    """Before the statement that opens a write transaction: wait for the lock."""
    record = conn.connection._connection_record
    if record is None or record.info.get(_HELD):
        return
    dbapi = conn.connection.dbapi_connection
    if dbapi is None or dbapi.in_transaction or dbapi.isolation_level is None:
        return  # a write in a transaction that began elsewhere, or autocommit: left to SQLite
    if statement.lstrip()[:8].split(None, 1)[0].upper() not in _WRITES:
        return
    held = _held()
    if held[0]:
        return  # this thread holds it through another connection: never wait for ourselves
    fd = record.info.get(_FD)
    if fd is None:
        fd = record.info[_FD] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    record.info[_HELD] = held  # released from whichever thread: the count is the taker's
    held[0] += 1


def _release(info: dict[str, Any]) -> None:
    held = info.pop(_HELD, None)
    if held is None:
        return
    fcntl.flock(info[_FD], fcntl.LOCK_UN)
    held[0] = max(0, held[0] - 1)


def _commit(conn: Any) -> None:
    _end(conn, "commit")


def _rollback(conn: Any) -> None:
    _end(conn, "rollback")


def _end(conn: Any, how: str) -> None:
    """SQLAlchemy tells before it commits or rolls back: do it now, then let the next writer
    in (the commit or rollback SQLAlchemy then issues finds no transaction, a no-op for
    sqlite3)."""
    record = conn.connection._connection_record
    if record is None or not record.info.get(_HELD):
        return
    try:
        getattr(conn.connection.dbapi_connection, how)()
    finally:
        _release(record.info)


def _reset(dbapi_connection: Any, record: Any, reset_state: Any) -> None:
    """Back in the pool (rolled back by the pool): the lock goes with the transaction."""
    if record is not None:
        _release(record.info)


def _close(dbapi_connection: Any, record: Any) -> None:
    if record is None:
        return
    _release(record.info)
    fd = record.info.pop(_FD, None)
    if fd is not None:
        os.close(fd)
