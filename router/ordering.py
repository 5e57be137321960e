"""One requester reads one ticket's notifications in the order they were written.

Two workers may take a ticket's sends at once (separate actions enqueue separately, retries
wait): a send waits while an earlier one to the same address is unsent, and each send that
ends hands on to the next in line.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from models.db import NotificationRow

UNSENT = ("pending", "sending")
FINAL = frozenset({"sent", "failed", "suppressed"})


def _same_line(row: NotificationRow) -> Select[Any]:
    return select(NotificationRow.id).where(
        NotificationRow.ticket_id == row.ticket_id,
        NotificationRow.channel == row.channel,
        NotificationRow.recipient == row.recipient,
    )


def earlier_unsent(row: NotificationRow, *, session: Session) -> bool:
    query = _same_line(row).where(NotificationRow.id < row.id, NotificationRow.status.in_(UNSENT))
    return session.scalar(query.limit(1)) is not None


def next_in_line(row: NotificationRow, *, session: Session) -> int | None:
    query = _same_line(row).where(NotificationRow.id > row.id, NotificationRow.status == "pending")
    return session.scalar(query.order_by(NotificationRow.id).limit(1))
