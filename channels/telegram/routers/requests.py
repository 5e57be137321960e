"""Requests: free text, captions, photos, documents, voice; and what we cannot take, refused."""

from __future__ import annotations

import asyncio

from aiogram import Bot, F, Router
from aiogram.types import Message, Update

from channels.telegram import normalise, texts
from channels.telegram.files import Downloader, FileTooBig
from channels.telegram.routers.common import log, submit
from channels.telegram.store import Store
from models.types import Accept

MB = 1024 * 1024


def has_request(message: Message) -> bool:
    return bool(
        message.text
        or message.caption
        or message.photo
        or message.document
        or message.voice
        or message.audio
        or message.video
    )


async def request(
    message: Message,
    bot: Bot,
    accept: Accept,
    store: Store,
    downloader: Downloader,
    lang: str,
    event_update: Update,
    raw_update: bytes | None = None,
) -> None:
    """Download the files, then hand the request to intake; the worker answers with the ticket."""
    key = normalise.message_key(message.chat.id, message.message_id)
    if await asyncio.to_thread(store.is_known, key):
        log.info("telegram message %s seen before (redelivered update); not taken twice", key)
        return
    fetched = await downloader.fetch(bot, message)
    incoming = normalise.request(
        message,
        update_id=event_update.update_id,
        ui_lang=lang,
        attachments=fetched.attachments,
        notes=fetched.notes,
    )
    await submit(accept, incoming, raw_update)
    for item, why in fetched.refused:
        if isinstance(why, FileTooBig):
            limit = f"{downloader.max_bytes / MB:g}"
            size = f"{item.size / MB:.1f}" if item.size else f"> {limit}"
            text = texts.get("file_too_big", lang, name=item.name, size=size, limit=limit)
        else:
            text = texts.get("file_unavailable", lang, name=item.name)
        await message.answer(text)


async def unsupported(
    message: Message, accept: Accept, lang: str, raw_update: bytes | None = None
) -> None:
    """Stickers, locations, polls…: kept raw as a rejected message, and the user is told why."""
    kind = str(getattr(message.content_type, "value", message.content_type))
    reason = f"unsupported Telegram content: {kind}"
    log.info("chat %s sent %s; refused", message.chat.id, kind)
    raw = raw_update or message.model_dump_json(exclude_none=True).encode()
    await submit(accept, normalise.refused(raw, reason, unsupported=True), raw)
    await message.answer(texts.get("unsupported", lang))


def build() -> Router:
    router = Router(name="requests")
    router.message.filter(F.chat.type == "private")
    router.message.register(request, has_request)
    router.message.register(unsupported)
    return router
