"""One requester reads one ticket's notifications in the order they were written.

Two workers may take a ticket's sends at once (separate actions enqueue separately, retries
wait): a send waits while an earlier one to the same address is unsent, and each send that
ends hands on to the next in line.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from models.db import NotificationRow

UNSENT = ("pending", "sending")
FINAL = frozenset({"sent", "failed", "suppressed"})


# Built once (every send asks both; building the statement cost more than running it).
_LINE = (
    NotificationRow.ticket_id == bindparam("ticket_id"),
    NotificationRow.channel == bindparam("channel"),
    NotificationRow.recipient == bindparam("recipient"),
)
_EARLIER = (
    select(NotificationRow.id)
    .where(*_LINE, NotificationRow.id < bindparam("id"), NotificationRow.status.in_(UNSENT))
    .limit(1)
)
_NEXT = (
    select(NotificationRow.id)
    .where(*_LINE, NotificationRow.id > bindparam("id"), NotificationRow.status == "pending")
    .order_by(NotificationRow.id)
    .limit(1)
)


def _params(row: NotificationRow) -> dict[str, Any]:
    return {
        "ticket_id": row.ticket_id,
        "channel": row.channel,
        "recipient": row.recipient,
        "id": row.id,
    }


def earlier_unsent(row: NotificationRow, *, session: Session) -> bool:
    return session.scalar(_EARLIER, _params(row)) is not None


def next_in_line(row: NotificationRow, *, session: Session) -> int | None:
    return session.scalar(_NEXT, _params(row))
