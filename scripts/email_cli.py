"""`okno email parse`, `okno smtp`, `okno imap`: the e-mail channel's commands.

`email parse` reads many files in one process, so this module imports only the parser at
the top; the servers, the runtime and the router are imported by the commands that run them.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from channels.email import EmailSettings, external_id, load_email_settings, parse_email
from models.settings import SettingsError
from models.types import ParseError

if TYPE_CHECKING:
    from scripts.runtime import Intake, Runtime

__all__ = ["email", "imap", "smtp"]


def cli_email_settings() -> EmailSettings:
    try:
        return load_email_settings()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


@click.group()
def email() -> None:
    """E-mail channel tools."""


@email.command("parse")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--jsonl", is_flag=True, help="One JSON object per line (default for many files).")
@click.option("--mailbox", default=None, help="Helpdesk address the mail was sent to.")
@click.option(
    "--attachments-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Store attachments here (by content hash); not stored when omitted.",
)
def parse(
    paths: tuple[Path, ...], jsonl: bool, mailbox: str | None, attachments_dir: Path | None
) -> None:
    """Print how Okno reads each mail FILE (directories are walked) as JSON.

    A mail Okno cannot read is printed with "status": "rejected" and the reason, as the
    worker would reject it; the exit code is 1 when any input was rejected.
    """
    settings = cli_email_settings()
    files = list(_mail_files(paths))
    jsonl = jsonl or len(files) > 1
    rejected = 0
    for file in files:
        data = _parse_one(file, settings, mailbox, attachments_dir)
        rejected += data["status"] == "rejected"
        click.echo(json.dumps(data, ensure_ascii=False, indent=None if jsonl else 2))
    if rejected:
        raise SystemExit(1)


def _mail_files(paths: tuple[Path, ...]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        else:
            yield path


def _parse_one(
    file: Path, settings: EmailSettings, mailbox: str | None, attachments_dir: Path | None
) -> dict[str, Any]:
    raw = file.read_bytes()
    try:
        parsed = parse_email(
            raw,
            mailbox=mailbox,
            attachments_dir=attachments_dir,
            max_attachment_bytes=settings.email_max_attachment_bytes,
            max_total_attachment_bytes=settings.email_max_total_attachment_bytes,
        )
    except ParseError as exc:
        return {"file": str(file), "status": "rejected", "error": f"ParseError: {exc}"}
    return {
        "file": str(file),
        "status": "parsed",
        "external_id": external_id(raw, mailbox),
        **parsed.as_dict(),
    }


@click.command()
@click.option("--host", default=None, help="Listen address [default: OKNO_SMTP_HOST, 127.0.0.1]")
@click.option("--port", default=None, type=int, help="Listen port [default: OKNO_SMTP_PORT, 8025]")
def smtp(host: str | None, port: int | None) -> None:
    """Receive mail for the configured addresses and domains over SMTP, store it and enqueue."""
    from channels.email.smtp_server import serve
    from scripts.runtime import Intake, cli_runtime

    settings = cli_email_settings()
    runtime = cli_runtime()
    try:
        serve(Intake(runtime), settings, host=host, port=port)
    finally:
        runtime.close()


@click.command()
@click.option("--once", is_flag=True, help="One fetch round per mailbox, then exit.")
def imap(once: bool) -> None:
    """Poll the IMAP mailboxes of OKNO_IMAP_MAILBOXES (IDLE where offered), store and enqueue."""
    from channels.email.imap_poller import run_pollers
    from scripts.runtime import Intake, cli_runtime

    settings = cli_email_settings()
    if not settings.imap_mailboxes:
        raise click.UsageError("OKNO_IMAP_MAILBOXES is not set: the IMAP poller is off")
    runtime = cli_runtime()
    accept = Intake(runtime)
    try:
        if once:
            _poll_once(settings, accept, runtime)
            return
        stop = threading.Event()
        _stop_on_signals(stop)
        run_pollers(
            settings, accept=accept, sessions=runtime.sessions, redis=runtime.redis, stop=stop
        )
    finally:
        runtime.close()


def _poll_once(settings: EmailSettings, accept: Intake, runtime: Runtime) -> None:
    from channels.email.imap_poller import ImapPoller

    for box in settings.imap_mailboxes:
        poller = ImapPoller(
            box,
            accept=accept,
            sessions=runtime.sessions,
            redis=runtime.redis,
            max_bytes=settings.smtp_max_bytes,
        )
        try:
            count = poller.poll_once()
        finally:
            poller.disconnect()
        click.echo(f"{box.mailbox_address} ({box.folder}): {count} new")


def _stop_on_signals(stop: threading.Event) -> None:
    def _handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
