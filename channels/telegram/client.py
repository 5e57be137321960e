"""The Bot API client: aiogram's Bot on an AiohttpSession pointed at the configured server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import TelegramMethod

from channels.telegram.settings import TelegramSettings


class Session(AiohttpSession):
    """aiogram's session minus the fixed 250 ms sleep on close.

    aiogram sleeps so SSL transports can finish closing; aiohttp (3.11+) now waits for that
    itself in ClientSession.close(), and the sleep would cost every webhook request.
    """

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(settings: TelegramSettings) -> Bot:
    """A Bot whose session the caller must close (`await bot.session.close()`)."""
    session = Session(
        api=TelegramAPIServer.from_base(settings.telegram_api_url),
        timeout=settings.telegram_request_timeout,
    )
    return Bot(settings.token, session=session)


@asynccontextmanager
async def open_bot(settings: TelegramSettings) -> AsyncIterator[Bot]:
    """A Bot for one unit of work; its HTTP session is closed on the way out."""
    bot = make_bot(settings)
    try:
        yield bot
    finally:
        await bot.session.close()


class RawGetUpdates(TelegramMethod[list[dict[str, Any]]]):
    """getUpdates answering plain dicts, so one malformed update cannot hide the others."""

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None
