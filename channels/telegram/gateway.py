"""The bot's inbound side: one update in (from polling or the webhook), routed by the Dispatcher."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from aiogram import Bot
from aiogram.types import Update
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from channels.telegram import normalise
from channels.telegram.client import open_bot
from channels.telegram.files import Downloader
from channels.telegram.routers import build_dispatcher
from channels.telegram.settings import TelegramSettings
from channels.telegram.store import Store, Views
from models.types import Accept

log = logging.getLogger(__name__)

# What we ask Telegram for: messages, button presses, and block/unblock of the bot.
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]


def malformed_reason(exc: ValueError | RecursionError) -> str:
    """One line naming what is wrong with the update (the first few fields)."""
    if isinstance(exc, ValidationError):
        parts = [
            ".".join(str(p) for p in err["loc"]) + ": " + err["msg"] for err in exc.errors()[:3]
        ]
        return "malformed Telegram update: " + "; ".join(parts)
    if isinstance(exc, RecursionError):
        return "malformed Telegram update: JSON nested too deeply"
    return f"malformed Telegram update: not JSON ({exc})"


class Gateway:
    """Everything the bot needs to take updates in; handed `accept` (intake), `views` (router/requesters) and the sessions."""

    def __init__(
        self,
        settings: TelegramSettings,
        *,
        accept: Accept,
        views: Views,
        sessions: sessionmaker[Session],
        data_dir: Path,
        timezone: str,
    ) -> None:
        self.settings = settings
        self.accept = accept
        self.store = Store(sessions)
        self.downloader = Downloader(data_dir, settings.telegram_max_file_bytes)
        self.dispatcher = build_dispatcher(
            accept=accept,
            store=self.store,
            views=views,
            downloader=self.downloader,
            timezone=timezone,
        )

    async def feed(self, bot: Bot, raw: bytes) -> int | None:
        """Handle one update; a malformed one is stored as rejected (its id returned), not raised.

        Any other failure propagates, so the caller does not confirm the update and it comes
        again (polling keeps its offset, a webhook answers 5xx and Telegram redelivers).
        """
        try:
            update = Update.model_validate(json.loads(raw), context={"bot": bot})
        except (ValueError, RecursionError) as exc:
            return await self.reject(raw, malformed_reason(exc))
        await self.dispatcher.feed_update(bot, update, raw_update=raw)
        return None

    async def reject(self, raw: bytes, reason: str) -> int:
        log.warning("telegram update refused: %s", reason)
        message = normalise.refused(raw, reason)
        result = await asyncio.to_thread(self.accept, message, raw=raw)
        return result.message_id

    async def feed_webhook(self, body: bytes) -> int | None:
        """A webhook delivery: a Bot (and its HTTP session) just for the replies to this update."""
        async with open_bot(self.settings) as bot:
            return await self.feed(bot, body)
