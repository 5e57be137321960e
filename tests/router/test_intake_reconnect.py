"""PostgreSQL intake without `pool_pre_ping` (issue #20): no ping round trip before a store, and
a connection the server dropped is replaced by the store itself, with nothing lost."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from models.db import InboundMessage, session_scope
from router.intake import Intake, store_engine
from router.runtime import INTAKE_QUEUE, Runtime
from tests.support.messages import form


@pytest.fixture
def pg_runtime(runtime: Runtime) -> Runtime:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the ping and the dropped connection: PostgreSQL (SQLite has no server)")
    return runtime


def stored(runtime: Runtime) -> int:
    with session_scope(runtime.sessions) as session:
        return session.scalar(select(func.count()).select_from(InboundMessage)) or 0


def test_a_store_sends_no_ping_before_its_insert(
    pg_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[object] = []
    ping = PGDialect_psycopg.do_ping

    def counted(self: Any, dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return bool(ping(self, dbapi_connection))

    monkeypatch.setattr(PGDialect_psycopg, "do_ping", counted)
    intake = Intake(pg_runtime)
    for i in range(3):
        intake.accept(form(f"alone-{i}"))
    intake.accept_many([(form(f"group-{i}"), None) for i in range(4)])
    assert pings == []  # the pool's ping: a SELECT 1 round trip before each of the 4 INSERTs
    assert stored(pg_runtime) == 7 and pg_runtime.queue(INTAKE_QUEUE).count == 7


def test_a_connection_the_server_dropped_is_replaced_by_the_store(
    pg_runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    intake = Intake(pg_runtime)
    intake.accept(form("before"))  # leaves an idle connection in the intake's pool
    engine = store_engine(pg_runtime.engine)
    assert engine is not pg_runtime.engine and engine.pool.checkedin() == 1
    with pg_runtime.engine.connect() as conn:  # as a database restart or an idle timeout would
        dropped = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    assert dropped >= 1
    with caplog.at_level(logging.WARNING, logger="router.intake"):
        results = intake.accept_many([(form(f"after-{i}"), None) for i in range(3)])
    assert [r.duplicate for r in results] == [False] * 3
    assert "connection was lost" in caplog.text
    intake.accept(form("later"))  # the pool holds a working connection again
    assert stored(pg_runtime) == 5 and pg_runtime.queue(INTAKE_QUEUE).count == 5


def test_the_store_pool_is_disposed_with_the_runtime_engine(pg_runtime: Runtime) -> None:
    Intake(pg_runtime).accept(form("one"))
    engine = store_engine(pg_runtime.engine)
    assert store_engine(pg_runtime.engine) is engine  # one pool per engine, not per store
    assert engine.pool.checkedin() == 1
    pg_runtime.engine.dispose()
    assert engine.pool.checkedin() == 0
