"""Outbound webhooks, the sending side: one RQ job per delivery on its own queue.

Each POST is bounded by a short timeout and runs on the `webhooks` queue, which `okno run`
gives its own worker, so a slow or dead receiver holds up only its own deliveries — never
intake, the requester's notifications or the other subscribers' retries.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from redis.exceptions import RedisError
from rq import Callback, Retry
from sqlalchemy.orm import Session

# The same signature scheme as the phone webhook, from the same code.
from channels.phone.signing import SIGNATURE_HEADER, sign
from models.db import WebhookAttempt, WebhookDelivery, WebhookSubscription, session_scope
from models.types import utcnow
from router.runtime import Runtime, current
from router.webhook_subscriptions import private_address, webhook_settings

log = logging.getLogger(__name__)

WEBHOOK_QUEUE = "webhooks"
DELIVERY_HEADER = "X-Okno-Delivery"
EVENT_HEADER = "X-Okno-Event"


class WebhookRetry(Exception):
    """A timeout, a connection error or a 5xx: RQ tries the delivery again later."""


@dataclass
class Result:
    outcome: str  # delivered | retry | failed
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0


def delivery_job_id(delivery_id: str) -> str:
    return f"okno-webhook-{delivery_id}"


def enqueue_deliveries(delivery_ids: list[str], *, runtime: Runtime | None = None) -> None:
    """One job per delivery; on a Redis outage the sweeper enqueues them later."""
    if not delivery_ids:
        return
    runtime = runtime or current()
    settings = webhook_settings()
    queue = runtime.queue(WEBHOOK_QUEUE)
    intervals = settings.retry_seconds
    try:
        queue.enqueue_many(
            [
                queue.prepare_data(
                    deliver_webhook,
                    (did,),
                    job_id=delivery_job_id(did),
                    retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
                    on_failure=Callback(on_delivery_failure),
                    timeout=int(settings.timeout_seconds * 2) + 30,
                    result_ttl=600,
                    failure_ttl=7 * 24 * 3600,
                )
                for did in delivery_ids
            ]
        )
    except RedisError as exc:
        log.warning("webhook deliveries %s not enqueued (%s); the sweeper will", delivery_ids, exc)


def deliver_webhook(delivery_id: str) -> str:
    """POST one delivery, record the attempt; raises WebhookRetry so RQ backs off and retries."""
    runtime = current()
    with session_scope(runtime.sessions) as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            return "gone"  # its subscription was removed
        if row.status != "pending":
            return row.status
        sub = session.get(WebhookSubscription, row.subscription_id)
        assert sub is not None  # deliveries are deleted with their subscription
        url, secret, body, event = sub.url, sub.secret, row.body.encode("utf-8"), row.event
    result = post(url, secret, body, delivery_id=delivery_id, event=event)
    with session_scope(runtime.sessions) as session:
        _record(session, delivery_id, result)
    if result.outcome == "retry":
        raise WebhookRetry(result.error or f"HTTP {result.status_code}")
    return result.outcome


def post(url: str, secret: str, body: bytes, *, delivery_id: str, event: str) -> Result:
    """One signed POST; what came back, classified."""
    settings = webhook_settings()
    if settings.refuse_private:  # checked again now: DNS may have changed since the add
        bad = private_address(urlsplit(url).hostname or "")
        if bad:
            return Result("failed", error=f"refused: {url} resolves to a private address ({bad})")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Okno-Webhooks/0.1",
        SIGNATURE_HEADER: sign(secret, body),
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event,
    }
    started = time.monotonic()
    try:
        with httpx.Client(timeout=settings.timeout_seconds, follow_redirects=False) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return Result("retry", error=f"{type(exc).__name__}: {exc}", duration_ms=_ms(started))
    return _classify(response.status_code, _ms(started))


def _classify(code: int, duration_ms: int) -> Result:
    if 200 <= code < 300:
        return Result("delivered", code, duration_ms=duration_ms)
    if code >= 500 or code in (408, 429):  # the receiver is busy or down: try later
        return Result("retry", code, f"HTTP {code}", duration_ms)
    return Result("failed", code, f"HTTP {code}", duration_ms)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _record(session: Session, delivery_id: str, result: Result) -> None:
    """The attempt row, and the delivery's state after it (pending again while retrying)."""
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        return
    session.add(
        WebhookAttempt(
            delivery_id=delivery_id,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
        )
    )
    row.attempts += 1
    row.last_status_code = result.status_code
    row.error = result.error
    if result.outcome != "retry":
        row.status = result.outcome
        row.finished_at = utcnow()


def on_delivery_failure(job: Any, connection: Any, exc_type: Any, value: Any, tb: Any) -> None:
    """After the last retry (about a day): the delivery is failed, its attempts kept."""
    if job.retries_left:
        return
    with session_scope(current().sessions) as session:
        row = session.get(WebhookDelivery, job.args[0])
        if row is not None and row.status == "pending":
            row.status = "failed"
            row.error = f"gave up after {row.attempts} attempt(s): {value}"
            row.finished_at = utcnow()
