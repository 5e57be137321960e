"""Telegram webhook: POST /api/v1/intake/telegram, checked by Telegram's secret-token header."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field

from api.deps import RuntimeDep
from api.errors import ApiError, ErrorBody
from channels.telegram.settings import TelegramSettings
from router.intake import Intake
from router.requesters import RequesterViews
from router.runtime import Runtime

if TYPE_CHECKING:
    from channels.telegram.gateway import Gateway

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["intake"])

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Tries are counted per update_id in Redis, across API processes; a day outlives Telegram's retries.
TRIES_KEY = "okno:telegram:webhook-tries:{}"
TRIES_TTL = 24 * 3600
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "JSON nested too deeply: stored, marked rejected."},
    401: {"model": ErrorBody},
    404: {"model": ErrorBody},
    413: {"model": ErrorBody},
    503: {"model": ErrorBody},
}


class TelegramAck(BaseModel):
    ok: bool = True
    rejected_message_id: int | None = Field(
        default=None, description="Set when the update was malformed: stored, marked rejected."
    )


def gateway_for(request: Request, runtime: Runtime) -> Gateway | None:
    """The app's gateway, built on first use; None while webhook mode is not configured."""
    gateway: Gateway | None = getattr(request.app.state, "telegram_gateway", None)
    if gateway is not None:
        return gateway
    settings = runtime.channels.get("telegram").settings
    assert isinstance(settings, TelegramSettings)
    if not settings.webhook_mode:
        return None
    # aiogram takes seconds to import: an API without Telegram webhooks never loads it.
    from channels.telegram.gateway import Gateway

    gateway = Gateway(
        settings,
        accept=Intake(runtime),
        views=RequesterViews(runtime.sessions),
        sessions=runtime.sessions,
        data_dir=runtime.settings.data_dir,
        timezone=runtime.settings.default_timezone,
    )
    request.app.state.telegram_gateway = gateway
    return gateway


@router.post(
    "/intake/telegram",
    response_model=TelegramAck,
    responses=ERRORS,
    summary="Telegram Bot API webhook",
)
async def telegram_webhook(
    request: Request,
    runtime: RuntimeDep,
    secret: Annotated[str | None, Header(alias=SECRET_HEADER)] = None,
) -> TelegramAck:
    """One update from Telegram; the same update delivered twice never makes two tickets."""
    gateway = gateway_for(request, runtime)
    if gateway is None:
        raise ApiError(
            404, "not_configured", "Telegram webhook mode is off (OKNO_TELEGRAM_WEBHOOK_SECRET)"
        )
    expected = gateway.settings.webhook_secret or ""
    if not secret or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", f"wrong or missing {SECRET_HEADER}")
    body = await request.body()
    if nested_too_deep(body):
        message_id = await gateway.reject(body, TOO_DEEP)
        raise ApiError(400, "malformed", f"{TOO_DEEP}; kept as rejected message {message_id}")
    rejected = await feed(gateway, body, runtime)
    return TelegramAck(rejected_message_id=rejected)


TOO_DEEP = "malformed Telegram update: JSON nested too deeply"


def nested_too_deep(body: bytes) -> bool:
    """No Telegram update nests deep enough to exhaust the parser: such a body is an attack."""
    try:
        json.loads(body)
    except RecursionError:
        return True
    except ValueError:
        return False
    return False


async def feed(gateway: Gateway, body: bytes, runtime: Runtime) -> int | None:
    """Handle the update; one that keeps failing is kept as rejected after MAX_TRIES, as polling.

    Otherwise Telegram would get 500 on every retry, give up, and the request would be lost.
    """
    from channels.telegram.polling import MAX_TRIES, OUTAGES

    try:
        return await gateway.feed_webhook(body)
    except OUTAGES:
        raise  # not this update's fault: 5xx, Telegram redelivers it later
    except Exception as exc:
        update_id = _update_id(body)
        if update_id is None or await asyncio.to_thread(count_try, runtime, update_id) < MAX_TRIES:
            raise
        log.exception("telegram update %s failed %s times; kept as rejected", update_id, MAX_TRIES)
        return await gateway.reject(body, f"handling failed {MAX_TRIES} times: {exc!r}")


def count_try(runtime: Runtime, update_id: int) -> int:
    key = TRIES_KEY.format(update_id)
    tries = int(runtime.redis.incr(key))
    runtime.redis.expire(key, TRIES_TTL)
    return tries


def _update_id(body: bytes) -> int | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    return update_id if isinstance(update_id, int) else None
