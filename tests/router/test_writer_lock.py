"""SQLite's writers queued on a kernel lock (router/writer_lock.py, issue #20): held exactly
from a transaction's first write to its commit or rollback, never for reads, and one message
per intake transaction on SQLite unless the setting says otherwise."""

from __future__ import annotations

import dataclasses
import fcntl
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from models.db import InboundMessage, Team
from router import batch, jobs, writer_lock
from router.intake import Intake
from router.runtime import Runtime
from tests.support.messages import form


@pytest.fixture
def sqlite(runtime: Runtime) -> Iterator[Runtime]:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("the writer lock is SQLite's (PostgreSQL has row locks)")
    assert writer_lock.attach(runtime.engine)
    yield runtime


def free(runtime: Runtime) -> bool:
    """Whether another process could take the lock now (a separate open file, as theirs)."""
    path = writer_lock.lock_path(runtime.engine)
    assert path is not None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing releases it if we had it
    return True


def test_held_from_the_first_write_to_the_commit(sqlite: Runtime) -> None:
    with sqlite.sessions() as session:
        session.scalars(select(Team)).all()
        assert free(sqlite), "a read takes no lock"
        session.execute(update(Team).values(email="it@corp.example.com"))
        assert not free(sqlite), "the first write takes it"
        session.execute(update(Team).values(email="it2@corp.example.com"))
        session.commit()
        assert free(sqlite), "the commit lets the next writer in"
    with sqlite.sessions() as session:
        assert set(session.scalars(select(Team.email))) == {"it2@corp.example.com"}


def test_released_by_a_rollback_and_by_a_session_closed_without_one(sqlite: Runtime) -> None:
    with sqlite.sessions() as session:
        session.execute(update(Team).values(email="x@corp.example.com"))
        session.rollback()
        assert free(sqlite)
    with sqlite.sessions() as session:
        session.execute(update(Team).values(email="y@corp.example.com"))
        assert not free(sqlite)
    assert free(sqlite)  # closed: the pool rolled it back and the lock went with it
    with sqlite.sessions() as session:
        emails = set(session.scalars(select(Team.email)))
        assert not emails & {"x@corp.example.com", "y@corp.example.com"}


def test_attached_by_the_intake_job_and_not_for_postgresql(runtime: Runtime) -> None:
    message_id = Intake(runtime).accept(form("lock-1")).message_id
    jobs.process_message(message_id)
    assert writer_lock.attached(runtime.engine) == (runtime.engine.dialect.name == "sqlite")
    with runtime.sessions() as session:
        assert session.get(InboundMessage, message_id).status == "processed"  # type: ignore[union-attr]


def test_one_message_per_transaction_on_sqlite_unless_set(runtime: Runtime) -> None:
    default = runtime.settings.intake_batch_commit
    sqlite = runtime.engine.dialect.name == "sqlite"
    assert batch.commit_size(runtime) == (1 if sqlite else default)
    settings = runtime.settings.model_copy(update={"intake_batch_commit": 4})
    assert batch.commit_size(dataclasses.replace(runtime, settings=settings)) == 4


def test_a_batch_takes_64_on_postgresql_and_16_on_sqlite_unless_set(runtime: Runtime) -> None:
    sqlite = runtime.engine.dialect.name == "sqlite"
    assert batch.batch_cap(runtime) == (16 if sqlite else 64)
    settings = runtime.settings.model_copy(update={"intake_batch_max": 5})
    assert batch.batch_cap(dataclasses.replace(runtime, settings=settings)) == 5
