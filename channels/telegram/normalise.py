"""Telegram updates → IncomingMessage: requests, button presses, and input we refuse (kept raw)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

from models.language import detect_language
from models.types import (
    TICKET_NUMBER,
    TRIAGE_TEAM,
    Attachment,
    Channel,
    IncomingMessage,
    ParseError,
    UnsupportedInput,
)

if TYPE_CHECKING:  # only annotations: the worker's parse_raw must not pay for importing aiogram
    from aiogram.types import CallbackQuery, Message

TICKET_AT_START = re.compile(rf"^\s*({TICKET_NUMBER})\b", re.IGNORECASE)
VOICE_NOTE = "voice message: listen to the attachment (no speech recognition here)"


def address(chat_id: int | str) -> str:
    """A chat's address on the telegram channel (EmployeeAddress.address, sender_address)."""
    return str(chat_id)


def message_key(chat_id: int | str, message_id: int) -> str:
    """The idempotency key of one Telegram message."""
    return f"{chat_id}:{message_id}"


def reply_key(message: Message) -> str | None:
    """The reply's target in the form the sender stored as NotificationRow.external_id."""
    target = message.reply_to_message
    return f"tg:{message.chat.id}:{target.message_id}" if target else None


def _meta(message: Message, update_id: int | None, ui_lang: str) -> dict[str, Any]:
    user = message.from_user
    return {
        "chat_id": message.chat.id,
        "message_id": message.message_id,
        "update_id": update_id,
        "user_id": user.id if user else None,
        "username": user.username if user else None,
        "ui_language": ui_lang,
    }


def _base(message: Message, update_id: int | None, ui_lang: str, text: str) -> dict[str, Any]:
    user = message.from_user
    return {
        "channel": Channel.telegram,
        "external_id": message_key(message.chat.id, message.message_id),
        "sender_address": address(message.chat.id),
        "sender_name": user.full_name if user else None,
        "text": text,
        "language": detect_language(text, default=ui_lang) if text.strip() else ui_lang,
        "meta": _meta(message, update_id, ui_lang),
    }


def request(
    message: Message,
    *,
    update_id: int | None,
    ui_lang: str,
    attachments: list[Attachment],
    notes: list[str],
) -> IncomingMessage:
    """A free-text request (or a reply to one of our messages, which threads onto the ticket)."""
    text = (message.text or message.caption or "").strip()
    fields = _base(message, update_id, ui_lang, text)
    match = TICKET_AT_START.match(text)
    meta = fields["meta"]
    if notes:
        meta["internal_notes"] = list(notes)
    if message.voice is not None:
        meta["notes"] = [VOICE_NOTE]
        meta["routing_hint"] = {"team": TRIAGE_TEAM}
    return IncomingMessage(
        **fields,
        attachments=attachments,
        in_reply_to=reply_key(message),
        ticket_ref=match.group(1).upper() if match else None,
    )


def action(
    message: Message, name: str, *, update_id: int | None, ui_lang: str, **values: Any
) -> IncomingMessage:
    """A requester action the worker applies (linking, a typed code, a feedback comment)."""
    fields = _base(message, update_id, ui_lang, "")
    fields["meta"].update(values, action=name)
    return IncomingMessage(**fields)


def button(query: CallbackQuery, name: str, *, ui_lang: str, **values: Any) -> IncomingMessage:
    """A button press; the callback query id is Telegram's own idempotency key for it."""
    chat_id = query.message.chat.id if query.message else query.from_user.id
    meta = {"chat_id": chat_id, "user_id": query.from_user.id, "ui_language": ui_lang}
    meta.update(values, action=name)
    return IncomingMessage(
        channel=Channel.telegram,
        external_id=f"cb:{query.id}",
        sender_address=address(chat_id),
        sender_name=query.from_user.full_name,
        language=ui_lang,
        meta=meta,
    )


def chat_member(chat_id: int, update_id: int, status: str) -> IncomingMessage:
    """The user blocked ("kicked") or unblocked ("member") the bot."""
    return IncomingMessage(
        channel=Channel.telegram,
        external_id=f"member:{update_id}",
        sender_address=address(chat_id),
        meta={"action": "chat_member", "status": status, "update_id": update_id},
    )


def refused(raw: bytes, reason: str, *, unsupported: bool = False) -> IncomingMessage:
    """Input we do not turn into a request: stored raw and marked rejected with the reason."""
    update_id, chat_id = _ids(raw)
    key = f"update:{update_id}" if update_id is not None else "raw:" + _digest(raw)
    return IncomingMessage(
        channel=Channel.telegram,
        external_id=key,
        sender_address=address(chat_id) if chat_id is not None else None,
        meta={"rejected": "unsupported" if unsupported else "malformed", "reason": reason},
    )


def parse_raw(raw: bytes, message: IncomingMessage) -> IncomingMessage:
    """Worker side: refused input becomes its named outcome; anything else passes unchanged."""
    kind = message.meta.get("rejected")
    reason = str(message.meta.get("reason") or "no reason recorded")
    if kind == "unsupported":
        raise UnsupportedInput(reason)
    if kind:
        raise ParseError(reason)
    return message


def _ids(raw: bytes) -> tuple[int | None, int | None]:
    """Best-effort update and chat ids out of a payload that may be broken anywhere."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    update_id = data.get("update_id")
    update_id = update_id if isinstance(update_id, int) else None
    for value in data.values():
        chat = value.get("chat") if isinstance(value, dict) else None
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return update_id, chat["id"]
    return update_id, None


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:40]
