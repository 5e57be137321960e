"""Outbound and operations: a blocked bot, 429s, long texts, the polling loop, CLI, settings."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiogram.exceptions import TelegramBadRequest
from click.testing import CliRunner
from sqlalchemy import select

from channels.telegram import build
from channels.telegram.client import open_bot
from channels.telegram.polling import MAX_TRIES, Poller
from channels.telegram.sender import MAX_TEXT, TelegramSender, chunks
from channels.telegram.settings import TelegramSettings, load_telegram_settings
from models.db import EmployeeAddress, InboundMessage, NotificationRow, Ticket
from models.settings import SettingsError
from models.types import Channel, Notification, NotificationKind
from router.runtime import Runtime
from scripts.cli import main
from scripts.telegram_cli import telegram_processes
from tests.channels.telegram.botapi_standin import TOKEN, BotApiStandin
from tests.channels.telegram.conftest import ANNA_CHAT, Bot, update


def note(text: str = "Статус обращения OKNO-000001 изменён: в работе.") -> Notification:
    return Notification(
        id=1,
        ticket_number="OKNO-000001",
        kind=NotificationKind.status,
        channel=Channel.telegram,
        recipient=str(ANNA_CHAT),
        text=text,
    )


def notifications(runtime: Runtime) -> list[NotificationRow]:
    """The ticket's notifications (linking replies have no ticket)."""
    with runtime.sessions() as session:
        query = select(NotificationRow).where(NotificationRow.ticket_id.is_not(None))
        return list(session.scalars(query.order_by(NotificationRow.id)))


def test_blocked_bot_falls_back_to_email(
    bot: Bot, standin: BotApiStandin, runtime: Runtime, anna: int
) -> None:
    bot.receive(update("contact_own.json"))
    standin.block(ANNA_CHAT)
    bot.receive(update("text_request.json"))
    created, *rest = notifications(runtime)
    assert (created.channel, created.status) == ("telegram", "failed")
    assert created.error == "blocked: Forbidden: bot was blocked by the user"
    fallback = [n for n in rest if n.fallback_of_id == created.id]
    assert [(n.channel, n.recipient) for n in fallback] == [("email", "a.petrova@corp.example.com")]
    with runtime.sessions() as session:
        chat = session.scalars(
            select(EmployeeAddress).where(EmployeeAddress.channel == "telegram")
        ).one()
    assert chat.unreachable  # marked from the 403 itself, not only from a my_chat_member update


def test_short_429_is_slept_through(tg_settings: TelegramSettings, standin: BotApiStandin) -> None:
    standin.throttle(ANNA_CHAT, 1)
    sender = TelegramSender(tg_settings)
    started = time.monotonic()
    result = sender(note())
    assert result.ok and result.external_id == f"tg:{ANNA_CHAT}:{standin.sent(ANNA_CHAT)[0]['_id']}"
    assert time.monotonic() - started >= 1
    assert len(standin.calls_of("sendMessage")) == 2
    sender.close()


def test_long_429_is_left_to_rq(bot: Bot, standin: BotApiStandin, runtime: Runtime) -> None:
    standin.throttle(ANNA_CHAT, 120, 120)  # Telegram says so for every message to the chat
    bot.receive(update("text_request.json"))
    created = notifications(runtime)[0]
    assert created.status == "pending"  # RQ has the retry scheduled
    assert created.error and created.error.startswith("TelegramRetryAfter")
    assert standin.transcript(ANNA_CHAT) == []


def test_long_text_is_split_and_the_last_part_is_the_reference(
    tg_settings: TelegramSettings, standin: BotApiStandin
) -> None:
    text = ("Строка решения.\n" * 600).strip()
    assert all(len(part) <= MAX_TEXT for part in chunks(text))
    sender = TelegramSender(tg_settings)
    result = sender(note(text))
    sent = standin.sent(ANNA_CHAT)
    assert len(sent) == 3 and "\n".join(p["text"] for p in sent) == text
    assert result.external_id == f"tg:{ANNA_CHAT}:{sent[-1]['_id']}"
    sender.close()


def test_a_sender_without_a_token_fails_permanently(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OKNO_TELEGRAM_TOKEN", raising=False)
    result = TelegramSender(load_telegram_settings())(note())
    assert (result.ok, result.permanent, result.error) == (
        False,
        True,
        "telegram is off (no token)",
    )
    bad = TelegramSender(load_telegram_settings(telegram_token=TOKEN))(
        note().model_copy(update={"recipient": "a.petrova@corp.example.com"})
    )
    assert bad.permanent and "not a Telegram chat id" in (bad.error or "")


def test_polling_loop_runs_until_stopped(
    bot: Bot, standin: BotApiStandin, runtime: Runtime
) -> None:
    standin.webhook = {"url": "https://old.example/hook"}
    stop = asyncio.Event()
    poller = Poller(bot.gateway)

    async def run() -> None:
        task = asyncio.create_task(poller.run(stop))
        standin.queue_update(update("text_request.json"))
        for _ in range(200):
            await asyncio.sleep(0.02)
            if not standin.updates:
                break
        stop.set()
        await task

    asyncio.run(run())
    assert standin.webhook is None  # polling and a webhook exclude each other
    with runtime.sessions() as session:
        assert session.scalars(select(InboundMessage)).one().external_id == "111111111:6"


def test_an_update_that_keeps_failing_is_kept_and_skipped(
    bot: Bot, standin: BotApiStandin, runtime: Runtime
) -> None:
    """A poison update must not stall the chat: after MAX_TRIES it is kept rejected, skipped."""
    standin.refuse(ANNA_CHAT, 400, "Bad Request: chat not found")  # the greeting cannot go
    standin.queue_update(update("start.json"))
    for _ in range(MAX_TRIES - 1):
        with pytest.raises(TelegramBadRequest):
            bot.receive(work=False)
    assert bot.receive(update("text_request.json")) == 2
    with runtime.sessions() as session:
        rows = {r.external_id: (r.status, r.error) for r in session.scalars(select(InboundMessage))}
        assert session.scalars(select(Ticket)).one().number == "OKNO-000001"
    status, error = rows["update:700000101"]
    assert status == "rejected" and "handling failed 3 times" in (error or "")


def test_settings_refuse_bad_values() -> None:
    with pytest.raises(SettingsError, match="OKNO_TELEGRAM_TOKEN"):
        load_telegram_settings(telegram_token="not-a-token")
    with pytest.raises(SettingsError, match="OKNO_TELEGRAM_WEBHOOK_SECRET"):
        load_telegram_settings(telegram_token=TOKEN, telegram_webhook_secret="has spaces")
    with pytest.raises(SettingsError, match="OKNO_TELEGRAM_API_URL"):
        load_telegram_settings(telegram_api_url="ftp://x")


def test_okno_run_learns_what_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OKNO_TELEGRAM_TOKEN", raising=False)
    monkeypatch.delenv("OKNO_TELEGRAM_WEBHOOK_SECRET", raising=False)
    assert telegram_processes() == []
    monkeypatch.setenv("OKNO_TELEGRAM_TOKEN", TOKEN)
    assert telegram_processes() == [("telegram bot (long polling)", ["telegram"])]
    monkeypatch.setenv("OKNO_TELEGRAM_WEBHOOK_SECRET", "s3cret")
    assert telegram_processes() == [
        ("telegram webhook registration", ["telegram", "--mode", "webhook"])
    ]


def test_cli_registers_the_webhook(
    tg_settings: TelegramSettings, standin: BotApiStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKNO_TELEGRAM_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("OKNO_PUBLIC_URL", "https://okno.example.com")
    result = CliRunner().invoke(main, ["telegram"])
    assert result.exit_code == 0, result.output
    assert standin.webhook is not None
    assert standin.webhook["url"] == "https://okno.example.com/api/v1/intake/telegram"
    assert standin.webhook["secret_token"] == "s3cret"
    assert standin.webhook["allowed_updates"] == ["message", "callback_query", "my_chat_member"]


def test_cli_without_a_token_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OKNO_TELEGRAM_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["telegram"])
    assert result.exit_code == 2 and "OKNO_TELEGRAM_TOKEN is not set" in result.output


def test_registry_builds_the_channel(tg_settings: TelegramSettings, tmp_path: object) -> None:
    from channels.base import ChannelConfig

    spec = build(ChannelConfig(data_dir=tmp_path))  # type: ignore[arg-type]
    assert spec.name == "telegram" and spec.parse_raw is not None
    assert spec.settings == tg_settings


async def _me(settings: TelegramSettings) -> str:
    async with open_bot(settings) as bot:
        return str((await bot.me()).username)


def test_aiogram_talks_to_the_standin(tg_settings: TelegramSettings) -> None:
    assert asyncio.run(_me(tg_settings)) == "okno_test_bot"
