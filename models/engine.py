"""Engine and session helpers; SQLite gets WAL and a busy timeout so workers and API can share it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str | URL, *, busy_timeout: float = 30, **kwargs: Any) -> Engine:
    """Create an engine; for SQLite turn on WAL, NORMAL sync and foreign keys, and wait up to
    `busy_timeout` seconds for another writer (0: fail at once with "database is locked")."""
    if make_url(url).get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {"timeout": busy_timeout, "check_same_thread": False})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", partial(_sqlite_pragmas, busy_ms=int(busy_timeout * 1000)))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, *, busy_ms: int) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(bind: sessionmaker[Session] | Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back and re-raise on error."""
    session = Session(bind, expire_on_commit=False) if isinstance(bind, Engine) else bind()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
