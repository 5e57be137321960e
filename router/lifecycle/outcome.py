"""The one result of a lifecycle change: the ticket, the message's status, the outbox rows.

A specialist's action, a requester's action and the worker's handling of one message all
return an Outcome; the caller commits, then enqueues `notification_ids`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.db import NotificationRow, Ticket
from models.types import MessageStatus


@dataclass
class Outcome:
    ticket: Ticket | None
    notifications: list[NotificationRow] = field(default_factory=list)
    status: MessageStatus = MessageStatus.processed
    error: str | None = None
    # True when this message opened the ticket (not a reply, not an action).
    created: bool = False

    @property
    def notification_ids(self) -> list[int]:
        return [n.id for n in self.notifications]

    @property
    def changed(self) -> Ticket:
        """The ticket an action changed (an action always has one)."""
        if self.ticket is None:
            raise LookupError("this outcome has no ticket")
        return self.ticket
