"""Intake rate limits: fixed-window counters in Redis, per client address and per requester.

A Redis outage does not refuse anyone: the request is stored in the database before it is
queued (the sweeper enqueues it later), so failing closed would turn an outage into lost
requests. While Redis is down the limits are not enforced, and a warning says so.
"""

from __future__ import annotations

import logging
import math
import time

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY = "okno:rate:{}:{}:{}"


def wait_seconds(
    redis: Redis, scope: str, who: str, *, limit: int, window: int, now: float | None = None
) -> int | None:
    """Count one request of `who`; the seconds to wait when over the limit, else None."""
    if limit <= 0 or not who:
        return None
    now = time.time() if now is None else now
    start = int(now // window) * window
    key = KEY.format(scope, who.strip().lower(), start)
    try:
        pipe = redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, window + 1)
        count = int(pipe.execute()[0])
    except RedisError as exc:
        log.warning("rate limit %s not checked, Redis is unreachable (%s)", scope, exc)
        return None
    if count <= limit:
        return None
    return max(1, math.ceil(start + window - now))
