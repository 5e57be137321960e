"""What `okno run` supervises: its children, how each is probed, the environment they share."""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path

from redis import Redis
from rq import Worker

from channels.email.settings import EmailSettings
from channels.telegram.settings import TelegramSettings
from models.settings import Settings
from router.webhook_jobs import WEBHOOK_QUEUE
from scripts.supervisor import Child, embedded_redis_argv, okno_argv
from scripts.telegram_cli import WEBHOOK_PATH


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
    # Outbound webhooks get a worker of their own: a slow receiver never delays intake.
    children.append(rq_worker(workers + 1, redis, queues=WEBHOOK_QUEUE, name="webhook worker"))
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
    children.append(api_child(host, port))
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


def rq_worker(number: int, redis: Redis, *, queues: str | None = None, name: str = "") -> Child:
    def registered(child: Child) -> bool:
        return any(w.pid == child.pid for w in Worker.all(connection=redis))

    # Every worker runs a sweeper thread; a Redis lock lets one sweep at a time.
    name = name or f"worker {number}"
    argv = okno_argv("worker", *(["--queues", queues] if queues else []))
    return Child(name, argv, registered, f"{name} running")


def smtp(email: EmailSettings) -> Child:
    def listening(child: Child) -> bool:
        with socket.create_connection((_local(email.smtp_host), email.smtp_port), timeout=0.5):
            return True

    where = f"{email.smtp_host}:{email.smtp_port}"
    return Child("SMTP server", okno_argv("smtp"), listening, f"SMTP server listening on {where}")


def api_child(host: str, port: int) -> Child:
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
