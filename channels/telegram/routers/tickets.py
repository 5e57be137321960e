"""Looking things up: /my (open tickets), /status OKNO-… (one of your own), /help; /cancel OKNO-…."""

from __future__ import annotations

import asyncio

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, Update

from channels.telegram import normalise, texts
from channels.telegram.routers.common import is_command, submit
from channels.telegram.store import Views
from models.types import Accept, Requester, TicketView


def _due(ticket: TicketView, requester: Requester, timezone: str) -> str:
    return texts.local_time(ticket.due, requester.timezone or timezone)


def _line(ticket: TicketView, requester: Requester, lang: str, timezone: str) -> str:
    return texts.get(
        "my_item",
        lang,
        number=ticket.number,
        subject=ticket.subject or "—",
        status=texts.status_name(ticket.status, lang),
        due=_due(ticket, requester, timezone),
    )


def card(ticket: TicketView, requester: Requester, lang: str, timezone: str) -> str:
    service = ticket.service[lang] if ticket.service else texts.get("not_routed", lang)
    return texts.get(
        "status_card",
        lang,
        number=ticket.number,
        subject=ticket.subject or "—",
        service=service,
        team=ticket.team[lang],
        status=texts.status_name(ticket.status, lang),
        due=_due(ticket, requester, timezone),
    )


async def my_tickets(
    message: Message, views: Views, requester: Requester, lang: str, timezone: str
) -> None:
    found = await asyncio.to_thread(views.open_tickets, requester)
    if not found:
        await message.answer(texts.get("my_none", lang))
        return
    lines = [texts.get("my_header", lang)]
    lines += [_line(t, requester, lang, timezone) for t in found]
    await message.answer("\n\n".join(lines))


async def status(
    message: Message,
    command: CommandObject,
    views: Views,
    requester: Requester,
    lang: str,
    timezone: str,
) -> None:
    number = (command.args or "").strip().split(" ")[0].upper()
    if not number:
        await message.answer(texts.get("status_usage", lang))
        return
    found = await asyncio.to_thread(views.ticket, requester, number)
    if found is None:
        await message.answer(texts.get("status_not_found", lang, number=number))
        return
    await message.answer(card(found, requester, lang, timezone))


async def cancel(
    message: Message,
    command: CommandObject,
    accept: Accept,
    lang: str,
    event_update: Update,
    raw_update: bytes | None = None,
) -> None:
    """/cancel NUMBER [reason]: the worker checks the ticket is the sender's and answers here."""
    number, _, reason = (command.args or "").strip().partition(" ")
    if not number:
        await message.answer(texts.get("cancel_usage", lang))
        return
    incoming = normalise.action(
        message,
        "cancel",
        update_id=event_update.update_id,
        ui_lang=lang,
        ticket=number.upper(),
        reason=reason.strip() or None,
    )
    await submit(accept, incoming, raw_update)


async def help_(message: Message, lang: str) -> None:
    await message.answer(texts.get("help", lang))


async def unknown_command(message: Message, lang: str) -> None:
    """A command we do not know is not a request: answer with what we do know."""
    await message.answer(texts.get("help", lang))


def build() -> Router:
    router = Router(name="tickets")
    router.message.filter(F.chat.type == "private")
    router.message.register(my_tickets, Command("my"))
    router.message.register(status, Command("status"))
    router.message.register(cancel, Command("cancel"))
    router.message.register(help_, Command("help"))
    router.message.register(unknown_command, is_command)
    return router
