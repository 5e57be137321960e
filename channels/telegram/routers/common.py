"""What the handlers share: handing a message to intake off the event loop, and chat filters."""

from __future__ import annotations

import asyncio
import logging

from aiogram.types import Message

from models.types import Accept, AcceptResult, IncomingMessage

log = logging.getLogger("channels.telegram")


async def submit(accept: Accept, message: IncomingMessage, raw: bytes | None) -> AcceptResult:
    """Store and enqueue through intake (sync: database and Redis) without blocking the loop."""
    result = await asyncio.to_thread(accept, message, raw=raw)
    if result.duplicate:
        log.info(
            "telegram %s already taken in as message %s", message.external_id, result.message_id
        )
    return result


def is_private(message: Message) -> bool:
    return message.chat.type == "private"


def is_command(message: Message) -> bool:
    return bool(message.text and message.text.startswith("/"))
