"""Kill a real `okno worker` process in the middle of a job: exactly one ticket afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from rq.job import Job, JobStatus
from sqlalchemy import create_engine, func, select, text

from models.db import Ticket
from models.types import Channel, IncomingMessage
from router.intake import Intake, process_job_id
from router.runtime import Runtime
from router.sweeper import sweep
from tests.conftest import ROOT, drain


@contextmanager
def tickets_locked(url: str) -> Iterator[None]:
    """Hold a write lock so the worker's insert blocks inside its transaction."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if url.startswith("sqlite"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
            conn.execute(text("LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            conn.exec_driver_sql("ROLLBACK")
    engine.dispose()


def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_worker_killed_mid_job_yields_one_ticket(runtime: Runtime) -> None:
    settings = runtime.settings
    msg = IncomingMessage(
        channel=Channel.webform,
        external_id="crash-1",
        text="Сломался принтер",
        sender_address="p@corp.example.com",
        service_hint="it_hardware",
    )
    message_id = Intake(runtime).accept(msg).message_id
    env = {
        **os.environ,
        "OKNO_DATABASE_URL": settings.effective_database_url,
        "OKNO_REDIS_URL": settings.redis_url or "",
        "OKNO_DATA_DIR": str(settings.data_dir),
    }
    job_id = process_job_id(message_id)
    with tickets_locked(settings.effective_database_url):
        worker = subprocess.Popen(
            [sys.executable, "-m", "scripts.cli", "worker", "--burst", "--no-sweeper"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(
                lambda: (
                    Job.fetch(job_id, connection=runtime.redis).get_status() == JobStatus.STARTED
                )
            )
            time.sleep(0.5)  # inside the transaction, waiting for the lock
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(Ticket.id))) == 0
    assert sweep(runtime, older_than=timedelta(0), abandoned_after=timedelta(0)).messages == 1
    drain(runtime)
    assert sweep(runtime, older_than=timedelta(0), abandoned_after=timedelta(0)).messages == 0
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(Ticket.id))) == 1
