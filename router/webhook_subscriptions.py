"""Webhook subscriptions: add (URL checked, secret made), list, remove, and their deliveries."""

from __future__ import annotations

import ipaddress
import secrets
import socket
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models.db import (
    Service,
    Team,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from models.settings import read_settings

EVENTS = (
    "ticket.created",
    "ticket.status_changed",
    "ticket.resolved",
    "ticket.commented",
    "sla.breached",
)
# Back-off between tries: about a day in all (23.6 h) before a delivery is marked failed.
RETRY_SECONDS = [10, 60, 300, 1800, 3600, 7200, 14400, 28800, 28800]


class WebhookSettings(BaseSettings):
    """OKNO_WEBHOOK_*: how deliveries are made."""

    model_config = SettingsConfigDict(env_prefix="OKNO_WEBHOOK_", extra="ignore")

    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    refuse_private: bool = Field(
        default=False,
        description="Refuse URLs that resolve to private, loopback or link-local addresses.",
    )
    retry_seconds: list[int] = Field(default_factory=lambda: list(RETRY_SECONDS))


@cache
def webhook_settings() -> WebhookSettings:
    """Read once per process (tests clear the cache after changing the environment)."""
    return read_settings(WebhookSettings)


class WebhookError(Exception):
    """A subscription that cannot be made; `field` names the input at fault."""

    def __init__(self, message: str, *, field: str = "body", code: str = "invalid") -> None:
        super().__init__(message)
        self.field = field
        self.code = code


def check_url(url: str, *, refuse_private: bool) -> str:
    """http(s) with a host; with refuse_private, no address of it may be internal."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"url must be http:// or https:// with a host: {url!r}", field="url")
    if refuse_private:
        bad = private_address(parts.hostname)
        if bad:
            raise WebhookError(f"url {url!r} points at a private address ({bad})", field="url")
    return url.strip()


def private_address(host: str) -> str | None:
    """The first internal address the host resolves to (or why it cannot be resolved)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            return str(address)
    return None


def parse_events(events: list[str]) -> list[str]:
    """Known event names, in the documented order; an unknown one is an error naming it."""
    names = {e.strip() for e in events if e.strip()}
    unknown = sorted(names - set(EVENTS))
    if unknown or not names:
        raise WebhookError(
            f"events must be some of {', '.join(EVENTS)}; got {', '.join(unknown) or 'none'}",
            field="events",
        )
    return [e for e in EVENTS if e in names]


def add_subscription(
    *,
    session: Session,
    url: str,
    events: list[str],
    service: str | None = None,
    team: str | None = None,
) -> WebhookSubscription:
    """Create a subscription with a fresh secret (shown once by the CLI and the API)."""
    if service and team:
        raise WebhookError("give a service or a team, not both", field="service")
    if service and session.scalar(select(Service.id).where(Service.code == service)) is None:
        raise WebhookError(f"unknown service {service!r}", field="service")
    if team and session.scalar(select(Team.id).where(Team.code == team)) is None:
        raise WebhookError(f"unknown team {team!r}", field="team")
    sub = WebhookSubscription(
        url=check_url(url, refuse_private=webhook_settings().refuse_private),
        events=parse_events(events),
        service_code=service or None,
        team_code=team or None,
        secret="whsec_" + secrets.token_hex(24),
        active=True,
    )
    session.add(sub)
    session.flush()
    return sub


def subscriptions(*, session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def remove_subscription(subscription_id: int, *, session: Session) -> None:
    """Delete the subscription with its deliveries and attempts (pending ones are never sent)."""
    if session.get(WebhookSubscription, subscription_id) is None:
        raise WebhookError(f"no webhook {subscription_id}", code="not_found")
    ids = select(WebhookDelivery.id).where(WebhookDelivery.subscription_id == subscription_id)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
    session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    )
    session.execute(delete(WebhookSubscription).where(WebhookSubscription.id == subscription_id))


def subscription_json(sub: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "url": sub.url,
        "events": list(sub.events),
        "service": sub.service_code,
        "team": sub.team_code,
        "active": sub.active,
        "created_at": sub.created_at.isoformat(),
    }


def deliveries(
    *,
    session: Session,
    subscription_id: int | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest deliveries first, each with every attempt made."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.created_at.desc()).limit(limit)
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    rows = list(session.scalars(query))
    attempts: dict[str, list[dict[str, Any]]] = {r.id: [] for r in rows}
    for a in session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(list(attempts)))
        .order_by(WebhookAttempt.id)
    ):
        attempts[a.delivery_id].append(
            {
                "at": a.at.isoformat(),
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
            }
        )
    return [_delivery_json(r, attempts[r.id]) for r in rows]


def _delivery_json(row: WebhookDelivery, attempts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "subscription_id": row.subscription_id,
        "event": row.event,
        "ticket_id": row.ticket_id,
        "status": row.status,
        "attempts": attempts,
        "last_status_code": row.last_status_code,
        "error": row.error,
        "created_at": row.created_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }
