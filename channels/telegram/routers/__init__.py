"""The bot's conversation areas, one Router each, composed into a Dispatcher."""

from __future__ import annotations

from aiogram import Dispatcher

from channels.telegram.files import Downloader
from channels.telegram.middleware import RequesterMiddleware
from channels.telegram.routers import choices, groups, linking, requests, tickets
from channels.telegram.store import Store, Views
from models.types import Accept


def build_dispatcher(
    *, accept: Accept, store: Store, views: Views, downloader: Downloader, timezone: str
) -> Dispatcher:
    """Handlers get `accept`, `store`, `views`, `downloader`, `timezone`, `requester`, `lang`."""
    # No FSM: the conversation's state lives in the database (link codes, sent notifications).
    dispatcher = Dispatcher(
        disable_fsm=True,
        accept=accept,
        store=store,
        views=views,
        downloader=downloader,
        timezone=timezone,
    )
    dispatcher.update.outer_middleware(RequesterMiddleware(views))
    # Order matters: groups first (never requests), then the specific, then free text last.
    for area in (groups, linking, tickets, choices, requests):
        dispatcher.include_router(area.build())
    return dispatcher
