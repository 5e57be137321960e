"""What the IMAP poller remembers between runs (ChannelState) and the one-fetcher-per-mailbox lock."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import LockError
from redis.lock import Lock
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from models.db import ChannelState, session_scope

SessionFactory = sessionmaker[Session] | Engine


@dataclass(frozen=True)
class MailboxState:
    """UIDVALIDITY and the highest UID handed to intake; None before the first run."""

    uidvalidity: int | None = None
    last_uid: int = 0


def load_state(key: str, *, sessions: SessionFactory) -> MailboxState:
    with session_scope(sessions) as session:
        row = session.get(ChannelState, key)
        if row is None:
            return MailboxState()
        value = row.value or {}
        validity = value.get("uidvalidity")
        return MailboxState(
            uidvalidity=int(validity) if validity is not None else None,
            last_uid=int(value.get("last_uid") or 0),
        )


def save_state(key: str, state: MailboxState, *, sessions: SessionFactory) -> None:
    with session_scope(sessions) as session:
        row = session.get(ChannelState, key)
        value = {"uidvalidity": state.uidvalidity, "last_uid": state.last_uid}
        if row is None:
            session.add(ChannelState(key=key, value=value))
        else:
            row.value = value


class LockLost(Exception):
    """Another fetcher took the mailbox over (our lock expired): stop before touching state."""


class MailboxLock:
    """A Redis lock per mailbox, renewed per message, so overlapping runs never fetch together.

    Redis rather than a database row lock: SQLite has no SELECT … FOR UPDATE, and a lock with a
    timeout frees itself when a poller dies mid-run.
    """

    def __init__(self, redis: Redis, key: str, ttl: float = 300.0) -> None:
        self._lock: Lock = redis.lock(f"okno:lock:{key}", timeout=ttl, blocking=False)

    def acquire(self) -> bool:
        return bool(self._lock.acquire(blocking=False))

    def renew(self) -> None:
        """Reset the lock's time to live; raises LockLost when it is no longer ours."""
        try:
            self._lock.reacquire()
        except LockError as exc:
            raise LockLost(str(exc)) from exc

    def release(self) -> None:
        with contextlib.suppress(LockError):  # expired already: nothing of ours to release
            self._lock.release()
