"""The SLA sweep: every few seconds, warn and escalate the clocks whose moment has come."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from redis.exceptions import RedisError

from models.db import session_scope
from models.types import utcnow
from router import sends
from router.lifecycle.sla_alerts import BATCH, Tick, check_due
from router.runtime import Runtime

log = logging.getLogger(__name__)


def sla_tick(runtime: Runtime, *, now: datetime | None = None, limit: int = BATCH) -> Tick:
    """One batch in one transaction, then the mails are queued (the sweeper re-queues strays)."""
    with session_scope(runtime.sessions) as session:
        tick = check_due(
            session=session,
            now=now or utcnow(),
            share=runtime.settings.sla_warning_share,
            limit=limit,
        )
    if tick.notifications:
        sends.enqueue_send(runtime, tick.notifications, chain=False)
    if tick.warnings or tick.breaches:
        log.info("SLA sweep: %s warning(s), %s breach(es)", tick.warnings, tick.breaches)
    return tick


def sla_sweep_forever(runtime: Runtime, stop: threading.Event, interval: float) -> None:
    """Loop for a worker's background thread; a full batch is followed by the next at once."""
    while not stop.wait(interval):
        try:
            while sla_tick(runtime).checked == BATCH and not stop.is_set():
                pass
        except RedisError as exc:
            log.warning("SLA sweep: Redis unreachable (%s); will retry", exc)
        except Exception:  # keep sweeping; the error is logged with its traceback
            log.exception("SLA sweep pass failed")
