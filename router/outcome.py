"""What handling one message produced: the ticket, the message's final status, the outbox rows."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.db import NotificationRow, Ticket
from models.types import MessageStatus


@dataclass
class Outcome:
    ticket: Ticket | None
    status: MessageStatus = MessageStatus.processed
    error: str | None = None
    notifications: list[NotificationRow] = field(default_factory=list)
    # True when this message opened the ticket (not a reply, not an action).
    created: bool = False
