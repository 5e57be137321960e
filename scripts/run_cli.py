"""`okno run`: everything in one command, under a supervisor that restarts what dies."""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path

import click
from redis import Redis
from rq import Worker

from channels.email.settings import EmailSettings
from channels.telegram.settings import TelegramSettings
from models.settings import Settings
from scripts.runtime import cli_runtime, cli_settings
from scripts.services import check_channel_settings, prepare, with_public_url
from scripts.supervisor import (
    Child,
    Supervisor,
    embedded_redis_argv,
    embedded_redis_socket,
    install_stop_signals,
    lock_data_dir,
    okno_argv,
)
from scripts.telegram_cli import WEBHOOK_PATH


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


def child_env(settings: Settings) -> dict[str, str]:
    """Children reach the same Redis and make links (and the webhook URL) with our port."""
    extra = {"OKNO_REDIS_URL": str(settings.redis_url), "OKNO_PUBLIC_URL": settings.public_url}
    return {**os.environ, **extra}


def up_line(host: str, port: int) -> str:
    return f"Okno is up — portal and API on http://{host}:{port}/ (OpenAPI /docs)"


def plan(
    settings: Settings,
    email: EmailSettings,
    telegram: TelegramSettings,
    redis: Redis,
    host: str,
    port: int,
    workers: int,
) -> list[Child]:
    """The children `okno run` supervises beside Redis: workers, channels, then the API."""
    children = [rq_worker(i + 1, redis) for i in range(workers)]
    children.append(smtp(email))
    if email.imap_mailboxes:
        n = len(email.imap_mailboxes)
        children.append(
            Child("IMAP poller", okno_argv("imap"), _alive, f"IMAP poller for {n} mailbox(es)")
        )
    if telegram.polling_mode:
        children.append(
            Child("Telegram bot", okno_argv("telegram"), _alive, "Telegram bot (long polling)")
        )
    elif telegram.webhook_mode:
        url = settings.public_url.rstrip("/") + WEBHOOK_PATH
        children.append(
            Child(
                "Telegram webhook registration",
                okno_argv("telegram", "--mode", "webhook"),
                lambda child: False,
                f"Telegram bot (webhook at {url})",
                oneshot=True,
            )
        )
    children.append(api(host, port))
    return children


def embedded_redis(data_dir: Path, sock: Path) -> Child:
    def ping(child: Child) -> bool:
        client = Redis(unix_socket_path=str(sock), socket_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()

    argv = embedded_redis_argv(data_dir, sock)
    return Child("embedded Redis", argv, ping, f"embedded Redis on {sock}", stop_last=True)


def rq_worker(number: int, redis: Redis) -> Child:
    def registered(child: Child) -> bool:
        return any(w.pid == child.pid for w in Worker.all(connection=redis))

    # Every worker runs a sweeper thread; a Redis lock lets one sweep at a time.
    return Child(f"worker {number}", okno_argv("worker"), registered, f"worker {number} running")


def smtp(email: EmailSettings) -> Child:
    def listening(child: Child) -> bool:
        with socket.create_connection((_local(email.smtp_host), email.smtp_port), timeout=0.5):
            return True

    where = f"{email.smtp_host}:{email.smtp_port}"
    return Child("SMTP server", okno_argv("smtp"), listening, f"SMTP server listening on {where}")


def api(host: str, port: int) -> Child:
    def healthy(child: Child) -> bool:
        url = f"http://{_local(host)}:{port}/healthz"
        with urllib.request.urlopen(url, timeout=0.5) as response:  # noqa: S310 — our own URL
            return bool(response.status == 200)

    argv = okno_argv("api", "--host", host, "--port", str(port))
    return Child("API", argv, healthy, f"API and portal on http://{host}:{port}/")


def _alive(child: Child) -> bool:
    """A poller has no port to probe: up once it has stayed up for two seconds."""
    return child.alive_for(2.0)


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 — probing, not binding
