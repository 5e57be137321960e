"""Long polling: getUpdates from the stored offset, each update confirmed only once handled."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from channels.telegram.client import RawGetUpdates, open_bot
from channels.telegram.gateway import ALLOWED_UPDATES, Gateway

log = logging.getLogger(__name__)

# A handler that keeps failing on one update must not stall the chat forever: after this many
# tries the update is kept as a rejected message (with the error) and polling moves on.
MAX_TRIES = 3
# Failures that are not the update's fault: it is retried for as long as they last.
OUTAGES = (
    TelegramNetworkError,
    TelegramServerError,
    TelegramRetryAfter,
    SQLAlchemyError,
    RedisError,
)
MAX_BACKOFF = 60.0


class Poller:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.settings = gateway.settings
        self.key = gateway.settings.state_key
        self._tries: dict[int, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; Telegram or database outages back off and retry."""
        async with open_bot(self.settings) as bot:
            await bot.delete_webhook(drop_pending_updates=False)
            me = await bot.me()
            log.info("Telegram bot @%s polling %s", me.username, self.settings.telegram_api_url)
            delay = 1.0
            while not stop.is_set():
                try:
                    await self.poll_once(bot, timeout=self.settings.telegram_poll_timeout)
                    delay = 1.0
                except Exception as exc:  # keep polling: the update stays unconfirmed, retried
                    log.warning(
                        "telegram polling: %s: %s; retry in %.0fs", type(exc).__name__, exc, delay
                    )
                    await _sleep(stop, delay)
                    delay = min(delay * 2, MAX_BACKOFF)

    async def poll_once(self, bot: Bot, *, timeout: int = 0) -> int:
        """One getUpdates round; returns how many updates were confirmed."""
        offset = await asyncio.to_thread(self.gateway.store.load_offset, self.key)
        method = RawGetUpdates(offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES)
        wait = int(self.settings.telegram_request_timeout) + timeout
        updates: list[dict[str, Any]] = await bot(method, request_timeout=wait)
        done = 0
        for raw in updates:
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            await self._handle(bot, raw, update_id)
            if isinstance(update_id, int):
                await asyncio.to_thread(self.gateway.store.save_offset, self.key, update_id + 1)
            done += 1
        return done

    async def _handle(self, bot: Bot, raw: Any, update_id: int | None) -> None:
        body = json.dumps(raw, ensure_ascii=False).encode()
        try:
            await self.gateway.feed(bot, body)
        except OUTAGES:
            raise  # an outage, not this update's fault: retry it later, however long it takes
        except Exception as exc:
            tries = self._count(update_id) if update_id is not None else 0
            if tries < MAX_TRIES:
                raise
            log.exception("telegram update %s failed %s times; kept as rejected", update_id, tries)
            await self.gateway.reject(body, f"handling failed {MAX_TRIES} times: {exc!r}")

    def _count(self, update_id: int) -> int:
        self._tries[update_id] = self._tries.get(update_id, 0) + 1
        return self._tries[update_id]


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_polling(gateway: Gateway, stop: asyncio.Event) -> None:
    await Poller(gateway).run(stop)
