"""Telegram channel: a bot (long polling or webhook) in, the Bot API's sendMessage out.

`build(config)` gives the registry the sender; `Gateway` (handed intake's `accept`) takes
updates in, fed by `polling.Poller` or the webhook endpoint in api/telegram.py.
"""

from __future__ import annotations

from channels.base import ChannelConfig, ChannelSpec
from channels.telegram.normalise import parse_raw
from channels.telegram.settings import TelegramSettings, load_telegram_settings

__all__ = ["TelegramSettings", "build", "load_telegram_settings"]


def build(config: ChannelConfig) -> ChannelSpec:
    """The channel as the registry sees it; `settings` serves the webhook endpoint."""
    # Importing aiogram takes seconds: only a process that really builds the channel pays.
    from channels.telegram.sender import TelegramSender

    settings = load_telegram_settings()
    return ChannelSpec(
        name="telegram",
        send=TelegramSender(settings),
        parse_raw=parse_raw,
        settings=settings,
    )
