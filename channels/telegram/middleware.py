"""The one middleware: who is writing (the linked employee) and in which language to answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, TelegramObject, User

from channels.telegram import normalise, texts
from channels.telegram.store import Views
from models.types import Requester


class RequesterMiddleware(BaseMiddleware):
    """Puts `requester` (Requester) and `lang` ("ru"/"en") into every handler's data."""

    def __init__(self, views: Views) -> None:
        self.views = views

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        data["lang"] = texts.language(user.language_code if user else None)
        if chat is not None and chat.type == "private":
            data["requester"] = await asyncio.to_thread(
                self.views.requester, normalise.address(chat.id)
            )
        else:
            data["requester"] = Requester(normalise.address(chat.id) if chat else "")
        return await handler(event, data)
