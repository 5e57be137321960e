"""Shared value types that cross the folders: what channels hand to intake, what jobs hand back."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field


def utcnow() -> datetime:
    """Timezone-aware now in UTC (stored naive-UTC in the database)."""
    return datetime.now(UTC)


class Channel(enum.StrEnum):
    webform = "webform"
    email = "email"
    telegram = "telegram"
    phone = "phone"


class MessageStatus(enum.StrEnum):
    """Processing status of a stored inbound message (the raw intake log)."""

    queued = "queued"
    processed = "processed"
    failed = "failed"
    rejected = "rejected"


class TicketStatus(enum.StrEnum):
    new = "new"
    assigned = "assigned"
    in_progress = "in_progress"
    waiting_for_requester = "waiting_for_requester"
    resolved = "resolved"
    closed = "closed"


OPEN_STATUSES = frozenset(
    {
        TicketStatus.new,
        TicketStatus.assigned,
        TicketStatus.in_progress,
        TicketStatus.waiting_for_requester,
    }
)


class Priority(enum.StrEnum):
    critical = "critical"
    high = "high"
    normal = "normal"
    low = "low"


class NotificationKind(enum.StrEnum):
    created = "created"
    status = "status"
    comment = "comment"
    resolved = "resolved"
    feedback_request = "feedback_request"
    sla_warning = "sla_warning"
    sla_breached = "sla_breached"
    clarify = "clarify"
    info = "info"


class NotificationStatus(enum.StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"
    suppressed = "suppressed"


class Attachment(BaseModel):
    name: str
    content_type: str = "application/octet-stream"
    size: int = 0
    stored_key: str | None = None
    note: str | None = None


class IncomingMessage(BaseModel):
    """One request as a channel normalised it; (channel, external_id) is the idempotency key."""

    channel: Channel
    external_id: str = Field(min_length=1, max_length=255)
    sender_address: str | None = Field(default=None, max_length=320)
    sender_name: str | None = Field(default=None, max_length=255)
    subject: str | None = Field(default=None, max_length=998)
    text: str = ""
    attachments: list[Attachment] = Field(default_factory=list)
    received_at: datetime = Field(default_factory=utcnow)
    ticket_ref: str | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    service_hint: str | None = None
    language: str | None = None
    # Channel-specific extras the worker may use (auto_submitted, bounce, ivr_choice, chat ids...).
    meta: dict[str, Any] = Field(default_factory=dict)


class Notification(BaseModel):
    """What a channel sender gets: one outbound message to one requester."""

    id: int
    ticket_number: str
    kind: NotificationKind
    channel: Channel
    recipient: str
    language: str = "en"
    subject: str = ""
    text: str
    html: str | None = None
    # Threading data: e-mail Message-ID / References, Telegram reply_to_message_id, etc.
    threading: dict[str, Any] = Field(default_factory=dict)
    # Extras such as an inline keyboard for Telegram or the status URL for SMS.
    extra: dict[str, Any] = Field(default_factory=dict)


class SendResult(BaseModel):
    """What a sender reports; `permanent` failures are not retried."""

    ok: bool = True
    external_id: str | None = None
    error: str | None = None
    permanent: bool = False
    # The address itself is dead (the user blocked the bot): stop using it until it comes back.
    unreachable: bool = False
