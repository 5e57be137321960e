"""A short-lived cache of analytics results in Redis, keyed by the data's version.

The version is the newest id of tickets, events, messages and ratings (four primary-key
look-ups): any new ticket, move, comment or rating makes a new key, so a cached figure is never
older than the data except for open tickets going overdue by the clock, which TTL bounds.
A dashboard that polls a quiet database pays for the full scan once a minute, not per request.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.db import Feedback, Ticket, TicketEvent, TicketMessage

log = logging.getLogger(__name__)
TTL_SECONDS = 60
T = TypeVar("T")


def data_version(session: Session) -> list[int]:
    return [
        session.scalar(select(func.max(model.id))) or 0
        for model in (Ticket, TicketEvent, TicketMessage, Feedback)
    ]


def cached(
    redis: Redis, session: Session, name: str, params: dict[str, Any], compute: Callable[[], T]
) -> T:
    """`compute()`'s JSON-able result, from Redis when the same question met the same data."""
    basis = json.dumps([name, params, data_version(session)], default=str, sort_keys=True)
    key = "okno:analytics:" + hashlib.sha256(basis.encode()).hexdigest()[:32]
    try:
        hit = redis.get(key)
    except RedisError as exc:  # analytics must not fail with Redis: compute instead
        log.warning("analytics cache unavailable: %s", exc)
        return compute()
    if hit is not None:
        value: T = json.loads(hit)
        return value
    value = compute()
    try:
        redis.set(key, json.dumps(value, default=str), ex=TTL_SECONDS)
    except RedisError as exc:
        log.warning("analytics cache unavailable: %s", exc)
    return value
