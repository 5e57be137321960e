"""Outbound webhook subscriptions over HTTP (admins): the same as `okno webhook …`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, Field

from api.auth import AdminUser
from api.deps import SessionDep
from api.errors import ApiError
from api.views import error_responses
from models.db import WebhookSubscription
from router.webhook_subscriptions import (
    EVENTS,
    WebhookError,
    add_subscription,
    deliveries,
    remove_subscription,
    subscription_json,
    subscriptions,
)

router = APIRouter(prefix="/api/v1", tags=["webhooks"])

EventName = Literal[
    "ticket.created", "ticket.status_changed", "ticket.resolved", "ticket.commented", "sla.breached"
]
assert set(EventName.__args__) == set(EVENTS)  # type: ignore[attr-defined]
WebhookId = Annotated[int, Path(ge=1, le=2**53, examples=[1])]


class WebhookIn(BaseModel):
    url: str = Field(max_length=2048, examples=["https://cmdb.corp.example.com/hooks/okno"])
    events: list[EventName] = Field(min_length=1)
    service: str | None = Field(default=None, max_length=64, description="Only this service.")
    team: str | None = Field(default=None, max_length=64, description="Only this team.")


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    service: str | None
    team: str | None
    active: bool
    created_at: datetime


class WebhookCreated(BaseModel):
    webhook: WebhookOut
    secret: str = Field(description="Signs X-Okno-Signature; shown only in this answer.")


class AttemptOut(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    id: str = Field(description="The X-Okno-Delivery header and the body's `id`.")
    subscription_id: int
    event: str
    ticket_id: int | None
    status: Literal["pending", "delivered", "failed"]
    attempts: list[AttemptOut]
    last_status_code: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


def _error(exc: WebhookError) -> ApiError:
    if exc.code == "not_found":
        return ApiError(404, "not_found", str(exc))
    return ApiError(422, "invalid", [{"field": exc.field, "message": str(exc)}])


@router.get(
    "/webhooks",
    response_model=list[WebhookOut],
    summary="Webhook subscriptions (admins)",
    responses=error_responses(401, 403),
)
def list_webhooks(session: SessionDep, admin: AdminUser) -> list[dict[str, Any]]:
    return [subscription_json(s) for s in subscriptions(session=session)]


@router.post(
    "/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    summary="Subscribe a URL to ticket events (admins)",
    description="Deliveries are POSTs of JSON `{id, event, at, ticket}` signed with "
    '`X-Okno-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.',
    responses=error_responses(400, 401, 403, 422),
)
def add_webhook(body: WebhookIn, session: SessionDep, admin: AdminUser) -> dict[str, Any]:
    try:
        sub = add_subscription(
            session=session,
            url=body.url,
            events=list(body.events),
            service=body.service,
            team=body.team,
        )
    except WebhookError as exc:
        raise _error(exc) from exc
    return {"webhook": subscription_json(sub), "secret": sub.secret}


@router.delete(
    "/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a subscription and its delivery history (admins)",
    responses=error_responses(401, 403, 404, 422),
)
def delete_webhook(webhook_id: WebhookId, session: SessionDep, admin: AdminUser) -> Response:
    try:
        remove_subscription(webhook_id, session=session)
    except WebhookError as exc:
        raise _error(exc) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=list[DeliveryOut],
    summary="A subscription's deliveries, newest first, with every attempt (admins)",
    responses=error_responses(401, 403, 404, 422),
)
def list_deliveries(
    webhook_id: WebhookId,
    session: SessionDep,
    admin: AdminUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    if session.get(WebhookSubscription, webhook_id) is None:
        raise ApiError(404, "not_found", f"no webhook {webhook_id}")
    return deliveries(session=session, subscription_id=webhook_id, limit=limit)
