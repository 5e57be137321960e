"""What every channel module provides (the contracts it shares with the router: models/types)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings

from models.types import ChannelError, IncomingMessage, Notification, SendResult


class PermanentSendError(ChannelError):
    """The recipient can never be reached this way (blocked bot, 4xx from a gateway)."""


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
    # False when the channel is not configured: its notifications are suppressed, not sent.
    enabled: bool = True
    # The channel's own settings, read once at build (webhook endpoints need them too).
    settings: BaseSettings | None = None
    # True when sending only records the row (the web form's status page): nothing leaves the
    # database, so the first send can be recorded in the transaction that writes the row.
    local: bool = False
