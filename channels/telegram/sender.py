"""Outbound: one notification → sendMessage; runs inside the (sync) RQ notify job."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import Message

from channels.telegram import keyboards
from channels.telegram.client import make_bot
from channels.telegram.settings import TelegramSettings
from models.types import Notification, SendResult

log = logging.getLogger(__name__)

MAX_TEXT = 4096  # Telegram's limit for one message
MAX_SLEEPS = 3


def external_id(chat_id: int | str, message_id: int) -> str:
    """How a sent message is known to threading; an incoming reply names the same form."""
    return f"tg:{chat_id}:{message_id}"


def chunks(text: str, size: int = MAX_TEXT) -> list[str]:
    """Split a long text at line breaks where possible, never inside Telegram's limit."""
    parts: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        cut = cut if cut > size // 2 else size
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    parts.append(text)
    return parts


class TelegramSender:
    """The channel's `send`: ok with "tg:<chat>:<message>", or a permanent failure to fall back.

    The notify job is synchronous, so sends run on a private event loop. Loop and Bot live as
    long as the worker process (one kept-alive connection to the Bot API instead of a new
    TLS handshake per notification) and are closed at exit; a forked child makes its own.
    """

    def __init__(self, settings: TelegramSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._pid = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bot: Bot | None = None

    def __call__(self, notification: Notification) -> SendResult:
        if not self.settings.enabled:
            return SendResult(ok=False, permanent=True, error="telegram is off (no token)")
        if not notification.recipient.lstrip("-").isdigit():
            error = f"not a Telegram chat id: {notification.recipient!r}"
            return SendResult(ok=False, permanent=True, error=error)
        with self._lock:
            loop, bot = self._open()
            return loop.run_until_complete(self.send(bot, notification))

    def _open(self) -> tuple[asyncio.AbstractEventLoop, Bot]:
        if self._loop is None or self._bot is None or self._pid != os.getpid():
            self._pid, self._loop = os.getpid(), asyncio.new_event_loop()
            self._bot = make_bot(self.settings)
            atexit.register(self.close)
        return self._loop, self._bot

    def close(self) -> None:
        """Close the Bot API session and the loop (at exit; safe to call twice)."""
        with self._lock:
            loop, bot, self._loop, self._bot = self._loop, self._bot, None, None
            if loop is None or bot is None or self._pid != os.getpid():
                return
            loop.run_until_complete(bot.session.close())
            loop.close()

    async def send(self, bot: Bot, notification: Notification) -> SendResult:
        try:
            sent = await self._deliver(bot, notification)
        except TelegramForbiddenError as exc:
            log.info("chat %s blocked the bot: %s", notification.recipient, exc.message)
            return SendResult(
                ok=False, permanent=True, unreachable=True, error=f"blocked: {exc.message}"
            )
        except (TelegramBadRequest, TelegramNotFound) as exc:
            return SendResult(ok=False, permanent=True, error=f"refused: {exc.message}")
        return SendResult(ok=True, external_id=external_id(sent.chat.id, sent.message_id))

    async def _deliver(self, bot: Bot, notification: Notification) -> Message:
        parts = chunks(notification.text or notification.subject)
        markup = keyboards.for_notification(notification)
        sent: Message | None = None
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            sent = await self._send_part(
                bot, notification.recipient, part, markup if last else None
            )
        assert sent is not None
        return sent

    async def _send_part(
        self, bot: Bot, chat_id: str, text: str, markup: keyboards.Markup | None
    ) -> Message:
        """sendMessage, sleeping through short 429s; a long wait is raised for RQ to retry."""
        for attempt in range(MAX_SLEEPS + 1):
            try:
                return await bot.send_message(chat_id=int(chat_id), text=text, reply_markup=markup)
            except TelegramRetryAfter as exc:
                if (
                    exc.retry_after > self.settings.telegram_max_retry_sleep
                    or attempt == MAX_SLEEPS
                ):
                    raise
                log.info("Telegram asks to wait %ss before writing to %s", exc.retry_after, chat_id)
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")
