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
from redis.exceptions import RedisError
from rq import SimpleWorker

from channels.email.settings import EmailSettings, load_email_settings
from channels.phone.settings import load_phone_settings
from channels.telegram.settings import TelegramSettings, load_telegram_settings
from classifier.registry import ModelRegistry
from models.db import session_scope
from models.migrate import upgrade
from models.settings import Settings, SettingsError
from router.catalog import catalog_is_empty, load_catalog
from router.runtime import INTAKE_QUEUE, NOTIFY_QUEUE, Runtime
from router.sla_sweep import sla_sweep_forever
from router.sweeper import sweep_forever
from router.webhook_jobs import WEBHOOK_QUEUE
from scripts.run_plan import child_env, embedded_redis, plan, up_line
from scripts.runtime import cli_runtime, cli_settings
from scripts.supervisor import (
    Child,
    Supervisor,
    embedded_redis_socket,
    install_stop_signals,
    lock_data_dir,
)

log = logging.getLogger("okno")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def api(host: str, port: int) -> None:
    """Serve the HTTP API and the portal alone (production: behind a load balancer)."""
    # Imported here: `okno worker` (this module too) never serves HTTP, and the app's imports
    # were ~2 s of each worker's start-up CPU.
    import uvicorn

    from api.app import create_app

    settings = with_public_url(cli_settings(), host, port)
    check_channel_settings()
    runtime = cli_runtime(settings)
    uvicorn.run(create_app(runtime), host=host, port=port, log_level="info")


@click.command()
@click.option("--burst", is_flag=True, help="Drain the queues and exit.")
@click.option(
    "--queues", default=f"{INTAKE_QUEUE},{NOTIFY_QUEUE},{WEBHOOK_QUEUE}", show_default=True
)
@click.option("--no-sweeper", is_flag=True, help="Do not run the stranded-message sweeper here.")
def worker(burst: bool, queues: str, no_sweeper: bool) -> None:
    """Run an RQ SimpleWorker (with the scheduler for retries) and the sweeper."""
    settings = cli_settings()
    check_channel_settings()
    runtime = cli_runtime(settings)
    run_worker(runtime, queues.split(","), burst=burst, sweeper=not no_sweeper)


def check_channel_settings() -> tuple[EmailSettings, TelegramSettings]:
    """Every channel's settings, checked before anything starts: a bad one stops the start."""
    try:
        email, telegram = load_email_settings(), load_telegram_settings()
        load_phone_settings()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    return email, telegram


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
    _warm(runtime)
    if sweeper and not burst:
        threading.Thread(
            target=sweep_forever, args=(runtime, stop), daemon=True, name="okno-sweeper"
        ).start()
        threading.Thread(
            target=sla_sweep_forever,
            args=(runtime, stop, runtime.settings.sla_sweep_seconds),
            daemon=True,
            name="okno-sla-sweep",
        ).start()
    try:
        work_until_stopped(runtime, queues, burst=burst, stop=stop)
    finally:
        stop.set()


def _warm(runtime: Runtime) -> None:
    """One-off costs paid before the first job (the SLA calendars' holiday tables)."""
    from router.lifecycle.sla_plan import warm_calendars

    try:
        with session_scope(runtime.sessions) as session:
            warm_calendars(session=session)
    except Exception as exc:  # a database not there yet: the first job pays it instead
        log.warning("could not warm the SLA calendars (%s)", exc)


class _Worker(SimpleWorker):
    """A SimpleWorker that records a stop request, so a quit can be told from a crash."""

    stop_event: threading.Event

    def request_stop(self, signum: Any, frame: Any) -> None:
        self.stop_event.set()
        super().request_stop(signum, frame)


def work_until_stopped(
    runtime: Runtime, queues: list[str], *, burst: bool, stop: threading.Event
) -> None:
    """Run RQ's work loop again after it quits on a Redis error (RQ's own bookkeeping raises
    ConnectionError and the loop quits); only SIGTERM/SIGINT or a finished burst end it."""
    while not stop.is_set():
        worker = _Worker([runtime.queue(q) for q in queues], connection=runtime.redis)
        worker.stop_event = stop
        try:
            worker.work(burst=burst, with_scheduler=True, logging_level=runtime.settings.log_level)
        except RedisError as exc:
            log.warning("worker: Redis error outside a job (%s)", exc)
        if burst or stop.is_set():
            return
        _stop_on_signal(stop)
        wait_for_redis(runtime, stop)
        if stop.is_set():
            return
        log.warning("worker: Redis is back; starting a fresh RQ worker")


def _stop_on_signal(stop: threading.Event) -> None:
    # RQ's handlers point at the worker that quit; between workers a signal just stops us.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


def wait_for_redis(runtime: Runtime, stop: threading.Event) -> None:
    """Ping with back-off (0.5 s doubling to 5 s) until Redis answers or we are told to stop."""
    delay = 0.5
    while not stop.wait(delay):
        try:
            runtime.redis.ping()
            return
        except RedisError as exc:
            log.warning("worker: Redis unreachable (%s); retrying in %.1f s", exc, delay)
            delay = min(5.0, delay * 2)


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
    # Every channel setting is checked, and the data directory locked, before anything starts:
    # a bad setting or a second `okno run` leaves nothing behind and touches nothing.
    email, telegram = check_channel_settings()
    lock = lock_data_dir(settings.data_dir)
    children: list[Child] = []
    redis_where = settings.redis_url
    if not settings.redis_url:
        sock = embedded_redis_socket(settings.data_dir)
        children.append(embedded_redis(settings.data_dir, sock))
        settings = settings.model_copy(update={"redis_url": f"unix://{sock}"})
        redis_where = f"embedded redis-server (unix://{sock})"
    supervisor = Supervisor(children, env=child_env(settings))
    install_stop_signals(supervisor.stop)
    runtime = cli_runtime(settings)
    try:
        click.echo(f"Okno is starting (pid of the supervisor: {os.getpid()})")
        click.echo(f"  database: {settings.effective_database_url}")
        click.echo(f"  redis:    {redis_where}")
        for line in prepare(runtime):
            click.echo(f"  {line}")
        supervisor.children += plan(settings, email, telegram, runtime.redis, host, port, workers)
        supervisor.run(on_up=lambda: click.echo(up_line(host, port)))
    finally:
        runtime.close()
        lock.close()
