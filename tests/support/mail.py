"""Helpers of the e-mail channel tests (a uniquely named module: `conftest` is taken)."""

from __future__ import annotations

import email
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from models.types import AcceptResult, IncomingMessage, MessageStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
HELPDESK = "helpdesk@ssc.example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Relay:
    """The company's SMTP relay as far as Okno can tell: it keeps every mail it is given."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[str] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.recipients += envelope.rcpt_tos
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def text(self, index: int = -1) -> str:
        body = self.messages[index].get_body(preferencelist=("plain",))
        assert body is not None
        return str(body.get_content())  # type: ignore[attr-defined]

    def texts(self) -> list[str]:
        return [self.text(index) for index in range(len(self.messages))]


@contextmanager
def relaying() -> Iterator[Relay]:
    """A local relay on a free port, with Okno's e-mail channel pointed at it (OKNO_SMTP_RELAY_*)."""
    box, port = Relay(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("OKNO_SMTP_RELAY_HOST", "127.0.0.1")
            env.setenv("OKNO_SMTP_RELAY_PORT", str(port))
            yield box
    finally:
        controller.stop()


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class RecordingAccept:
    """An intake stand-in that remembers every call and dedupes by key, as intake does."""

    def __init__(self) -> None:
        self.calls: list[tuple[IncomingMessage, bytes | None]] = []
        self.fail: Exception | None = None
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, message: IncomingMessage, *, raw: bytes | None = None) -> AcceptResult:
        with self._lock:
            if self.fail is not None:
                raise self.fail
            duplicate = message.external_id in self._ids
            self._ids.setdefault(message.external_id, len(self._ids) + 1)
            self.calls.append((message, raw))
            return AcceptResult(self._ids[message.external_id], duplicate, MessageStatus.queued)

    @property
    def keys(self) -> list[str]:
        return [message.external_id for message, _ in self.calls]

    @property
    def stored(self) -> set[str]:
        return set(self._ids)


@dataclass
class Dovecot:
    host: str
    port: int
    password: str
    conf: Path
    tls_port: int | None = None  # implicit TLS (imaps); None without openssl
    cert: Path | None = None  # the self-signed certificate, also the CA file to trust

    def new_user(self) -> str:
        """A fresh mailbox per test: any login works with the static passdb."""
        return f"helpdesk-{uuid.uuid4().hex[:10]}@ssc.example.com"
