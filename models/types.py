"""Shared value types that cross the folders: what channels hand to intake, what jobs hand back."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field, field_validator

# A ticket's human number, OKNO-000042: the one definition every channel and the router use.
TICKET_PREFIX = "OKNO-"
TICKET_NUMBER = rf"{TICKET_PREFIX}\d{{6,}}"
TICKET_REF = re.compile(rf"\b({TICKET_NUMBER})\b", re.IGNORECASE)

# The team that takes every request the router is unsure of; a catalogue must have it.
TRIAGE_TEAM = "triage"


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
    # A later stage's sub-ticket of a process: in no queue, no SLA clock, not actionable yet.
    planned = "planned"
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


def without_nul(value: Any) -> Any:
    """NUL is no text: PostgreSQL refuses it where SQLite keeps it, so no channel passes it on."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list | tuple):
        return [without_nul(v) for v in value]
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    return value


class Attachment(BaseModel):
    name: str
    content_type: str = "application/octet-stream"
    size: int = 0
    stored_key: str | None = None
    note: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return without_nul(value)


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

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return without_nul(value)


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


# What a chat bot is told about its requester (router/requesters.py answers, the bot shows it).
@dataclass(frozen=True)
class Requester:
    """Who is writing: the chat, and the employee it is linked to (if any)."""

    chat: str
    employee_id: int | None = None
    name: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class TicketView:
    number: str
    subject: str
    status: str
    due: datetime | None
    service: dict[str, str] | None
    team: dict[str, str]


@dataclass(frozen=True)
class SentNote:
    """A notification we sent into a chat, found by the message a user replied to."""

    ticket: str
    kind: str
    expects: str | None


class ChannelError(Exception):
    """Base class of the named outcomes a channel reports instead of a silent return."""


class UnsupportedInput(ChannelError):
    """Input the channel understands the shape of but does not handle (kept, marked rejected)."""


class ParseError(ChannelError):
    """Input the channel cannot parse at all (kept raw, marked rejected with this reason)."""


@dataclass(frozen=True)
class AcceptResult:
    """What intake answers a channel: the stored message id and whether it was already known."""

    message_id: int
    duplicate: bool
    status: MessageStatus
    ticket_number: str | None = None


class Accept(Protocol):
    """The intake function channels are handed: store, dedupe, enqueue."""

    def __call__(self, message: IncomingMessage, *, raw: bytes | None = None) -> AcceptResult: ...


# --- phone numbers: E.164, the form employee phones are stored in, so callers match exactly ---

# "доб. 123", "ext 123", "x123", "#123", RFC 3966 ";ext=123", a dial-string pause ",123".
_EXTENSION = re.compile(
    r"[\s,;]*(?:доб(?:авочный)?\.?|вн(?:утр)?\.?|ext(?:ension)?\s*[.=]?|x|#|,)\s*(\d{1,6})\s*$",
    re.IGNORECASE,
)
_URI = re.compile(r"^(?:tel|sips?):", re.IGNORECASE)
_ALLOWED = re.compile(r"^\+?[\d\s().\-/]+$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


class InvalidPhoneNumber(ParseError):
    """Not something that can be dialled as a public phone number."""


@dataclass(frozen=True)
class PhoneNumber:
    e164: str
    extension: str | None = None


def normalize_phone(raw: str) -> PhoneNumber:
    """'8 (912) 345-67-89 доб. 12' → +79123456789 with extension '12'; Russian forms by default."""
    value = _URI.sub("", raw.strip()).split("@", 1)[0].strip()
    extension = None
    match = _EXTENSION.search(value)
    if match and match.start() > 0:
        extension, value = match.group(1), value[: match.start()]
    if not _ALLOWED.match(value):
        raise InvalidPhoneNumber(f"not a phone number: {raw!r}")
    e164 = _to_e164(re.sub(r"\D", "", value), international=value.lstrip().startswith("+"))
    if e164 is None or not _E164.match(e164) or (e164.startswith("+7") and len(e164) != 12):
        raise InvalidPhoneNumber(f"not a phone number: {raw!r}")
    return PhoneNumber(e164=e164, extension=extension)


def _to_e164(digits: str, *, international: bool) -> str | None:
    if international:
        return "+" + digits
    if digits.startswith("810") and len(digits) > 11:  # Russian long-distance exit code
        return "+" + digits[3:]
    if digits.startswith("00"):
        return "+" + digits[2:]
    if len(digits) == 11 and digits[0] in "78":
        return "+7" + digits[1:]
    if len(digits) == 10 and digits[0] in "3489":  # a Russian number without the trunk prefix
        return "+7" + digits
    return None
