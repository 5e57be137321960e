"""`okno telegram`: the bot by long polling, or registering the webhook with Telegram."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

import click

from channels.telegram.settings import TelegramSettings, load_telegram_settings
from models.settings import SettingsError
from router.intake import Intake
from router.requesters import RequesterViews
from router.runtime import Runtime
from scripts.runtime import cli_runtime, cli_settings

if TYPE_CHECKING:
    from channels.telegram.gateway import Gateway

WEBHOOK_PATH = "/api/v1/intake/telegram"

# The bot's modules are imported inside the functions that run it: aiogram takes seconds to
# import, and every other `okno` command (and `okno --help`) should not pay for that.


def telegram_settings() -> TelegramSettings:
    try:
        return load_telegram_settings()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def telegram_processes() -> list[tuple[str, list[str]]]:
    """What `okno run` starts for Telegram (name, `okno` arguments); nothing without a token.

    Polling mode runs the bot; webhook mode (a secret is set) only registers the webhook
    with Telegram once and exits, the API then takes the updates.
    """
    settings = telegram_settings()
    if settings.polling_mode:
        return [("telegram bot (long polling)", ["telegram"])]
    if settings.webhook_mode:
        return [("telegram webhook registration", ["telegram", "--mode", "webhook"])]
    return []


def make_gateway(runtime: Runtime, settings: TelegramSettings) -> Gateway:
    from channels.telegram.gateway import Gateway

    return Gateway(
        settings,
        accept=Intake(runtime),
        views=RequesterViews(runtime.sessions),
        sessions=runtime.sessions,
        data_dir=runtime.settings.data_dir,
        timezone=runtime.settings.default_timezone,
    )


async def register_webhook(settings: TelegramSettings, url: str) -> None:
    from channels.telegram.client import open_bot
    from channels.telegram.gateway import ALLOWED_UPDATES

    async with open_bot(settings) as bot:
        await bot.set_webhook(
            url,
            secret_token=settings.webhook_secret,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )


async def poll_until_signal(gateway: Gateway) -> None:
    """Long polling until SIGINT/SIGTERM; offsets are saved per update, so stopping is safe."""
    from channels.telegram.polling import Poller

    stop = asyncio.Event()
    task = asyncio.create_task(Poller(gateway).run(stop))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        click.echo("telegram bot stopped")


@click.command()
@click.option(
    "--mode",
    type=click.Choice(["auto", "polling", "webhook"]),
    default="auto",
    show_default=True,
    help="auto: webhook when OKNO_TELEGRAM_WEBHOOK_SECRET is set, else long polling.",
)
def telegram(mode: str) -> None:
    """Run the Telegram bot (long polling), or register the webhook and exit."""
    settings = cli_settings()
    tg = telegram_settings()
    if not tg.enabled:
        raise click.UsageError("OKNO_TELEGRAM_TOKEN is not set: the Telegram bot is off")
    if mode == "webhook" or (mode == "auto" and tg.webhook_mode):
        if not tg.webhook_secret:
            raise click.UsageError("webhook mode needs OKNO_TELEGRAM_WEBHOOK_SECRET")
        url = settings.public_url.rstrip("/") + WEBHOOK_PATH
        asyncio.run(register_webhook(tg, url))
        click.echo(f"Telegram webhook set to {url}")
        return
    runtime = cli_runtime(settings)
    try:
        asyncio.run(poll_until_signal(make_gateway(runtime, tg)))
    finally:
        runtime.close()
