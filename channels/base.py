"""What every channel module provides, and the named outcomes channels report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from models.types import IncomingMessage, MessageStatus, Notification, SendResult


class ChannelError(Exception):
    """Base class of the named outcomes a channel reports instead of a silent return."""


class UnsupportedInput(ChannelError):
    """Input the channel understands the shape of but does not handle (kept, marked rejected)."""


class ParseError(ChannelError):
    """Input the channel cannot parse at all (kept raw, marked rejected with this reason)."""


class PermanentSendError(ChannelError):
    """The recipient can never be reached this way (blocked bot, 4xx from a gateway)."""


@dataclass(frozen=True)
class AcceptResult:
    """What intake answers a channel: the stored message id and whether it was already known."""

    message_id: int
    duplicate: bool
    status: MessageStatus
    ticket_number: str | None = None


class Accept(Protocol):
    """The intake function channels are handed: store, dedupe, enqueue."""

    def __call__(self, message: IncomingMessage, *, raw: bytes | None = None) -> AcceptResult: ...


Sender = Callable[[Notification], SendResult]
RawParser = Callable[[bytes, IncomingMessage], IncomingMessage]


@dataclass(frozen=True)
class ChannelConfig:
    """The common settings a channel is built with (channel-specific ones it reads itself)."""

    data_dir: Path
    public_url: str = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class ChannelSpec:
    """A built channel: its outbound sender and, for raw-stored input, its parser."""

    name: str
    send: Sender
    parse_raw: RawParser | None = None
    extras: dict[str, object] = field(default_factory=dict)
