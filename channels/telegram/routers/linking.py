"""Who is writing: /start, a shared phone contact, a work e-mail and its one-time code."""

from __future__ import annotations

import asyncio
import re

from aiogram import F, Router
from aiogram.filters import CommandStart
from aiogram.types import ChatMemberUpdated, Message, Update

from channels.telegram import keyboards, normalise, texts
from channels.telegram.routers.common import submit
from channels.telegram.store import Views
from models.types import Accept, Requester

EMAIL_ONLY = re.compile(r"^\s*([^@\s]+@[^@\s]+\.[^@\s]+)\s*$")
CODE_ONLY = re.compile(r"^\s*(\d{6})\s*$")


async def start(message: Message, requester: Requester, lang: str) -> None:
    if requester.employee_id is not None:
        await message.answer(texts.get("greet_known", lang, name=requester.name or ""))
        return
    first = message.from_user.first_name if message.from_user else ""
    name = f", {first}" if first else ""
    await message.answer(
        texts.get("greet_new", lang, name=name), reply_markup=keyboards.share_contact(lang)
    )


async def contact(
    message: Message,
    accept: Accept,
    lang: str,
    event_update: Update,
    raw_update: bytes | None = None,
) -> None:
    shared = message.contact
    assert shared is not None
    # Anyone's contact card can be forwarded: only the sender's own number proves who they are.
    if message.from_user is None or shared.user_id != message.from_user.id:
        await message.answer(texts.get("not_own_contact", lang))
        return
    incoming = normalise.action(
        message,
        "link_phone",
        update_id=event_update.update_id,
        ui_lang=lang,
        phone=shared.phone_number,
    )
    await submit(accept, incoming, raw_update)


async def email(
    message: Message,
    found: re.Match[str],
    accept: Accept,
    lang: str,
    event_update: Update,
    raw_update: bytes | None = None,
) -> None:
    incoming = normalise.action(
        message,
        "link_email",
        update_id=event_update.update_id,
        ui_lang=lang,
        email=found.group(1).strip().lower(),
    )
    await submit(accept, incoming, raw_update)


async def awaiting_code(message: Message, views: Views) -> bool:
    """Six digits count as a code only while this chat has a code outstanding."""
    return await asyncio.to_thread(views.pending_code, normalise.address(message.chat.id))


async def code(
    message: Message,
    found: re.Match[str],
    accept: Accept,
    lang: str,
    event_update: Update,
    raw_update: bytes | None = None,
) -> None:
    incoming = normalise.action(
        message, "confirm_code", update_id=event_update.update_id, ui_lang=lang, code=found.group(1)
    )
    await submit(accept, incoming, raw_update)


async def membership(
    event: ChatMemberUpdated, accept: Accept, event_update: Update, raw_update: bytes | None = None
) -> None:
    """Blocking the bot ("kicked") makes the chat unreachable; /start again makes it reachable."""
    status = event.new_chat_member.status
    incoming = normalise.chat_member(event.chat.id, event_update.update_id, str(status))
    await submit(accept, incoming, raw_update)


def build() -> Router:
    router = Router(name="linking")
    router.message.filter(F.chat.type == "private")
    router.message.register(start, CommandStart())
    router.message.register(contact, F.contact)
    router.message.register(email, F.text.regexp(EMAIL_ONLY).as_("found"))
    router.message.register(code, F.text.regexp(CODE_ONLY).as_("found"), awaiting_code)
    router.my_chat_member.register(membership, F.chat.type == "private")
    return router
