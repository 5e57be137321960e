"""Attachments: getFile + download through the Bot API, stored by content hash under data_dir."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import Message
from aiohttp import ClientResponseError

from channels.blobs import store_blob
from models.types import Attachment

log = logging.getLogger(__name__)

MB = 1024 * 1024


class Refused(Exception):
    """A file we cannot attach; the request still goes through without it."""


class FileTooBig(Refused):
    """The file is over the configured limit (declared, reported by getFile, or while reading)."""


class Unfetchable(Refused):
    """Telegram refused the file (getFile or the download): the text goes on without it."""


# Not the file's fault: the update is retried while they last (see polling.OUTAGES).
OUTAGES = (TelegramNetworkError, TelegramServerError, TelegramRetryAfter)


@dataclass(frozen=True)
class Wanted:
    file_id: str
    name: str
    content_type: str
    size: int | None


@dataclass
class Fetched:
    attachments: list[Attachment] = field(default_factory=list)
    refused: list[tuple[Wanted, Refused]] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        """Internal notes for the specialist about files the requester sent that we refused."""
        return [f"attachment {w.name!r} not attached: {exc}" for w, exc in self.refused]


class CappedBuffer(io.BytesIO):
    """A download target that refuses to grow past the limit (sizes can be absent or wrong)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.limit:
            raise FileTooBig(f"over the {self.limit}-byte limit")
        return super().write(data)


def wanted(message: Message) -> list[Wanted]:
    """The files a message carries (the largest size of a photo)."""
    items: list[Wanted] = []
    if message.photo:
        p = message.photo[-1]
        items.append(Wanted(p.file_id, f"photo_{p.file_unique_id}.jpg", "image/jpeg", p.file_size))
    if message.document:
        d = message.document
        name = d.file_name or f"document_{d.file_unique_id}"
        kind = d.mime_type or "application/octet-stream"
        items.append(Wanted(d.file_id, name, kind, d.file_size))
    if message.voice:
        v = message.voice
        kind = v.mime_type or "audio/ogg"
        items.append(Wanted(v.file_id, f"voice_{v.file_unique_id}.ogg", kind, v.file_size))
    for media in (message.audio, message.video):
        if media is not None:
            name = media.file_name or f"{type(media).__name__.lower()}_{media.file_unique_id}"
            kind = media.mime_type or "application/octet-stream"
            items.append(Wanted(media.file_id, name, kind, media.file_size))
    return items


class Downloader:
    def __init__(self, data_dir: Path, max_bytes: int) -> None:
        self.root = data_dir / "attachments"
        self.max_bytes = max_bytes

    async def fetch(self, bot: Bot, message: Message) -> Fetched:
        result = Fetched()
        for item in wanted(message):
            try:
                result.attachments.append(await self._fetch_one(bot, item))
            except Refused as exc:
                log.info("attachment %r refused: %s", item.name, exc)
                result.refused.append((item, exc))
        return result

    async def _fetch_one(self, bot: Bot, item: Wanted) -> Attachment:
        if item.size is not None and item.size > self.max_bytes:
            raise FileTooBig(f"{item.size} bytes, over the {self.max_bytes}-byte limit")
        try:
            return await self._download(bot, item)
        except OUTAGES:
            raise
        except TelegramBadRequest as exc:  # the Bot API refuses getFile over 20 MB
            if "too big" in exc.message.lower():
                raise FileTooBig(exc.message) from exc
            raise Unfetchable(f"could not be fetched from Telegram: {exc.message}") from exc
        except TelegramAPIError as exc:
            raise Unfetchable(f"could not be fetched from Telegram: {exc.message}") from exc
        except ClientResponseError as exc:
            if exc.status >= 500:
                raise
            raise Unfetchable(f"could not be fetched from Telegram: HTTP {exc.status}") from exc

    async def _download(self, bot: Bot, item: Wanted) -> Attachment:
        info = await bot.get_file(item.file_id)
        if info.file_size is not None and info.file_size > self.max_bytes:
            raise FileTooBig(f"{info.file_size} bytes, over the {self.max_bytes}-byte limit")
        if not info.file_path:
            raise Refused("the Bot API gave no file_path for it")
        buffer = CappedBuffer(self.max_bytes)
        await bot.download_file(info.file_path, destination=buffer)
        data = buffer.getvalue()
        key = self.store(data)
        return Attachment(
            name=item.name, content_type=item.content_type, size=len(data), stored_key=key
        )

    def store(self, data: bytes) -> str:
        """Stored once under its SHA-256, the same layout and key form as e-mail attachments."""
        return store_blob(self.root, data)
