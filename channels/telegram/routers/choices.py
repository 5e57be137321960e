"""Answers to our questions: a service choice, a 1-5 rating, and the comment after a rating."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message, Update

from channels.telegram import normalise, texts
from channels.telegram.keyboards import Rating, ServiceChoice
from channels.telegram.routers.common import log, submit
from channels.telegram.store import Views
from models.types import Accept


async def _done(query: CallbackQuery, ack: str) -> None:
    """Acknowledge the press and take the buttons away, so a choice is made once."""
    await query.answer(ack)
    if query.message is not None and hasattr(query.message, "edit_reply_markup"):
        # Pressing twice quickly leaves nothing to remove the second time: not an error.
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(reply_markup=None)


async def service_chosen(
    query: CallbackQuery, callback_data: ServiceChoice, accept: Accept, lang: str
) -> None:
    incoming = normalise.button(
        query,
        "choose_service",
        ui_lang=lang,
        ticket=callback_data.ticket,
        service=callback_data.service,
    )
    await submit(accept, incoming, None)
    await _done(query, texts.get("choice_ack", lang))


async def rated(query: CallbackQuery, callback_data: Rating, accept: Accept, lang: str) -> None:
    incoming = normalise.button(
        query, "feedback", ui_lang=lang, ticket=callback_data.ticket, rating=callback_data.rating
    )
    await submit(accept, incoming, None)
    await _done(query, texts.get("rating_ack", lang))


async def stale(query: CallbackQuery, lang: str) -> None:
    log.warning("unknown callback data %r from %s", query.data, query.from_user.id)
    await query.answer(texts.get("stale_button", lang), show_alert=False)


async def feedback_reply(message: Message, views: Views) -> dict[str, Any] | bool:
    """A reply to our "thanks for the rating" message is the rating's comment, not a new request."""
    key = normalise.reply_key(message)
    if key is None or not message.text:
        return False
    note = await asyncio.to_thread(views.sent_note, key)
    if note is None or note.expects != "feedback_comment":
        return False
    return {"rated_ticket": note.ticket}


async def feedback_comment(
    message: Message,
    rated_ticket: str,
    accept: Accept,
    lang: str,
    event_update: Update,
    raw_update: bytes | None = None,
) -> None:
    incoming = normalise.action(
        message,
        "feedback",
        update_id=event_update.update_id,
        ui_lang=lang,
        ticket=rated_ticket,
        rating=None,
        comment=(message.text or "").strip(),
    )
    await submit(accept, incoming, raw_update)


def build() -> Router:
    router = Router(name="choices")
    router.message.filter(F.chat.type == "private")
    router.callback_query.register(service_chosen, ServiceChoice.filter())
    router.callback_query.register(rated, Rating.filter())
    router.callback_query.register(stale)
    router.message.register(feedback_comment, feedback_reply)
    return router
