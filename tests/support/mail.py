"""Helpers of the e-mail channel tests (a uniquely named module: `conftest` is taken)."""

from __future__ import annotations

import socket
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from models.types import AcceptResult, IncomingMessage, MessageStatus

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"
HELPDESK = "helpdesk@ssc.example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
