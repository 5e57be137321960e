"""A per-process cache of the catalogue rows every new ticket reads (issue #20).

Teams, calendars, the default calendar, priority factors and whether any webhook subscription
is active: a handful of rows read by every message, written a few times a year. Values are plain
snapshots (never ORM instances, which belong to one session).

Invalidation, by the code paths that write those rows, not by time:
- in this process, any ORM flush or ORM bulk statement that touches one of the tables clears it
  (so `catalog load`, API edits and tests editing rows directly are seen at once), and again
  after that transaction commits (a reader may have cached the old rows in between);
- in other processes, the commit bumps a version key in Redis (`okno:catalog:version`), which
  workers read once per job (`sync`) and clear their cache when it moved; any other process
  (the API) reads it on a lookup at most once a second. A new runtime starts with an empty cache.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

log = logging.getLogger(__name__)

VERSION_KEY = "okno:catalog:version"
TABLES = frozenset(
    {
        "teams",
        "services",
        "process_templates",
        "priority_policies",
        "calendars",
        "branches",
        "webhook_subscriptions",
    }
)
_DIRTY = "okno_catalog_dirty"

T = TypeVar("T")

_store: dict[str, Any] = {}
_seen_version: bytes | None = None
_synced_at = 0.0
STALE_AFTER = 1.0  # seconds a process without per-job syncs trusts its cache


def cached(key: str, load: Callable[[], T]) -> T:
    """The cached value under `key`, loaded (by the caller's session) on a miss."""
    if time.monotonic() - _synced_at > STALE_AFTER:
        from router import runtime

        found = runtime._current
        if found is None:
            _store.clear()
        else:
            sync(found.redis)
    try:
        return _store[key]  # type: ignore[no-any-return]
    except KeyError:
        value = load()
        _store[key] = value
        return value


def clear() -> None:
    """Forget everything, the last version seen included (a new runtime: another Redis)."""
    global _seen_version, _synced_at
    _store.clear()
    _seen_version, _synced_at = None, 0.0


def sync(redis: Any) -> None:
    """Drop what this process cached if another one changed the catalogue since (one GET)."""
    global _seen_version, _synced_at
    _synced_at = time.monotonic()
    try:
        version = redis.get(VERSION_KEY)
    except Exception as exc:  # Redis down: nothing is cached until it answers again
        log.debug("catalogue version unreadable (%s)", exc)
        _store.clear()
        _seen_version = None
        return
    if version != _seen_version:
        _store.clear()
        _seen_version = version


def bump(redis: Any | None = None) -> None:
    """The catalogue changed: clear here and tell the other processes."""
    _store.clear()
    if redis is None:
        from router import runtime

        found = runtime._current
        redis = found.redis if found is not None else None
    if redis is None:
        return
    try:
        # A fresh token, not a counter: a Redis that lost its data (restart, flush) and counts
        # from 1 again would repeat a value some process has already seen.
        redis.set(VERSION_KEY, uuid.uuid4().hex)
    except Exception as exc:  # their cache stays until Redis is back and the next write bumps
        log.warning("catalogue version not bumped in Redis (%s)", exc)


def _touches(objects: Any) -> bool:
    return any(getattr(o, "__tablename__", None) in TABLES for o in objects)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    if _touches(session.new) or _touches(session.dirty) or _touches(session.deleted):
        session.info[_DIRTY] = True
        _store.clear()


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in TABLES:
        state.session.info[_DIRTY] = True
        _store.clear()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_DIRTY, False):
        bump()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    if session.info.pop(_DIRTY, False):
        _store.clear()
