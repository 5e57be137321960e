"""Group chats: requests are personal, so the bot only points people to a private chat."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import Message

from channels.telegram import texts
from channels.telegram.routers.common import is_command, log


async def addressed_to_bot(message: Message, bot: Bot) -> bool:
    """A command, a mention or a reply to the bot; other group chatter is none of our business."""
    if is_command(message):
        return True
    me = await bot.me()
    replied = message.reply_to_message
    if replied and replied.from_user and replied.from_user.id == me.id:
        return True
    text = message.text or message.caption or ""
    return bool(me.username) and f"@{me.username}".lower() in text.lower()


async def hint_private(message: Message, lang: str) -> None:
    log.info("group chat %s wrote to the bot; answered with the private-chat hint", message.chat.id)
    await message.reply(texts.get("group_hint", lang))


async def ignore_chatter(message: Message) -> None:
    """Swallow group messages not meant for us, so no later router turns them into requests."""


def build() -> Router:
    router = Router(name="groups")
    router.message.filter(F.chat.type.in_({"group", "supergroup"}))
    router.message.register(hint_private, addressed_to_bot)
    router.message.register(ignore_chatter)
    return router
