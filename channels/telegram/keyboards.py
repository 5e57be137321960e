"""Buttons: callback data the bot understands and the keyboards that carry it."""

from __future__ import annotations

from typing import Any

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    ForceReply,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder

from channels.telegram import texts
from models.types import Notification, NotificationKind

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply


class ServiceChoice(CallbackData, prefix="svc"):
    """A requester's answer to "which service is it?" ("other" leaves the ticket in triage)."""

    ticket: str
    service: str


class Rating(CallbackData, prefix="fb"):
    """A 1-5 rating of a resolved ticket."""

    ticket: str
    rating: int


def choices(items: list[dict[str, Any]]) -> InlineKeyboardMarkup:
    """One button per row, from the channel-neutral choices the router wrote in `extra`."""
    builder = InlineKeyboardBuilder()
    for item in items:
        builder.button(
            text=str(item["label"])[:64],
            callback_data=ServiceChoice(ticket=str(item["ticket"]), service=str(item["value"])),
        )
    builder.adjust(1)
    return builder.as_markup()


def rating(ticket: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for value in range(1, 6):
        builder.button(text="⭐" * value, callback_data=Rating(ticket=ticket, rating=value))
    builder.adjust(5)
    return builder.as_markup()


def share_contact(lang: str) -> ReplyKeyboardMarkup:
    button = KeyboardButton(text=texts.get("share_phone", lang), request_contact=True)
    return ReplyKeyboardMarkup(keyboard=[[button]], resize_keyboard=True, one_time_keyboard=True)


def for_notification(notification: Notification) -> Markup | None:
    """The markup a notification carries on Telegram, if any."""
    extra = notification.extra
    if extra.get("choices"):
        return choices(list(extra["choices"]))
    asks_rating = notification.kind in (
        NotificationKind.resolved,
        NotificationKind.feedback_request,
    )
    if (asks_rating or extra.get("feedback_request")) and notification.ticket_number:
        return rating(notification.ticket_number)
    if extra.get("expects") == "feedback_comment":
        placeholder = texts.get("comment_placeholder", notification.language)
        return ForceReply(force_reply=True, input_field_placeholder=placeholder)
    if extra.get("remove_keyboard"):
        return ReplyKeyboardRemove(remove_keyboard=True)
    return None
