"""SQLAlchemy 2 models of Okno and the engine/session helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from models.engine import make_engine, make_sessionmaker, session_scope
from models.types import OPEN_STATUSES, utcnow

__all__ = ["Base", "make_engine", "make_sessionmaker", "session_scope"]


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC everywhere (SQLite has no time zones) and hands back aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


Id = BigInteger().with_variant(Integer, "sqlite")
# Literal, in a fixed order, so a partial index's predicate matches the queue's query exactly.
OPEN_STATUS_SQL = "status IN ({})".format(", ".join(f"'{s}'" for s in sorted(OPEN_STATUSES)))


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_ru: Mapped[str] = mapped_column(String(255))
    name_en: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    calendar: Mapped[str | None] = mapped_column(String(64))


class Service(Base):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    team_code: Mapped[str] = mapped_column(ForeignKey("teams.code"))
    name_ru: Mapped[str] = mapped_column(String(255))
    name_en: Mapped[str] = mapped_column(String(255))
    description_ru: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    response_hours: Mapped[float] = mapped_column(Float)
    resolution_hours: Mapped[float] = mapped_column(Float)
    exclude_from_training: Mapped[bool] = mapped_column(Boolean, default=False)
    process: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    calendar: Mapped[str | None] = mapped_column(String(64))
    raise_priority_on_breach: Mapped[bool] = mapped_column(Boolean, default=False)


class ProcessTemplate(Base):
    __tablename__ = "process_templates"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_ru: Mapped[str] = mapped_column(String(255))
    name_en: Mapped[str] = mapped_column(String(255))
    steps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The steps in order: a list of stages, each a list of parallel steps (0005_processes).
    stages: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # What the requester is asked for; copied to every step's ticket.
    fields: Mapped[list[Any]] = mapped_column(JSON, default=list)


class PriorityPolicy(Base):
    __tablename__ = "priority_policies"

    priority: Mapped[str] = mapped_column(String(16), primary_key=True)
    response_factor: Mapped[float] = mapped_column(Float, default=1.0)
    resolution_factor: Mapped[float] = mapped_column(Float, default=1.0)


class Employee(Base):
    __tablename__ = "employees"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    department: Mapped[str | None] = mapped_column(String(255))
    branch: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The directory (CSV import, LDAP sync): a deactivated person keeps their tickets but
    # is no longer recognised as a requester.
    manager_email: Mapped[str | None] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime | None] = mapped_column()

    addresses: Mapped[list[EmployeeAddress]] = relationship(back_populates="employee")


class EmployeeAddress(Base):
    """One channel address of a person: an e-mail, a Telegram chat, a phone number."""

    __tablename__ = "employee_addresses"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(320))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    employee: Mapped[Employee] = relationship(back_populates="addresses")


class User(Base):
    """A specialist, lead, analyst or admin who works through the API."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    teams: Mapped[list[UserTeam]] = relationship(cascade="all, delete-orphan")

    @property
    def team_codes(self) -> list[str]:
        return [t.team_code for t in self.teams]


class UserTeam(Base):
    __tablename__ = "user_teams"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    team_code: Mapped[str] = mapped_column(ForeignKey("teams.code"), primary_key=True)


class InboundMessage(Base):
    """The raw intake log: every message exactly once per (channel, external_id)."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_inbound_channel_external"),
        Index("ix_inbound_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    # No foreign key: tickets reference their source message, and a cycle would need ALTERs.
    ticket_id: Mapped[int | None] = mapped_column(Integer, index=True)
    enqueued_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("parent_id", "process_step", name="uq_ticket_parent_step"),
        Index("ix_ticket_team_status_due", "team_code", "status", "resolution_due_at"),
        # The specialists' queue: open tickets of a team in due order, read straight off the
        # index (models/migrations 0002_queue_search; PostgreSQL adds trigram text search).
        # Analytics read today's and changed days live by creation time (0013_rollups).
        Index("ix_ticket_created", "created_at"),
        Index(
            "ix_ticket_open_team_due",
            "team_code",
            "resolution_due_at",
            "id",
            postgresql_where=text(OPEN_STATUS_SQL),
            sqlite_where=text(OPEN_STATUS_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    subject: Mapped[str] = mapped_column(String(998), default="")
    service_code: Mapped[str | None] = mapped_column(ForeignKey("services.code"))
    predicted_service_code: Mapped[str | None] = mapped_column(String(64))
    team_code: Mapped[str] = mapped_column(ForeignKey("teams.code"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(32), default="new")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    origin_channel: Mapped[str] = mapped_column(String(16))
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id"))
    requester_address: Mapped[str | None] = mapped_column(String(320))
    requester_name: Mapped[str | None] = mapped_column(String(255))
    requester_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(8), default="ru")
    routing: Mapped[str] = mapped_column(String(16), default="triage")
    classifier_version: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    candidates: Mapped[list[Any]] = mapped_column(JSON, default=list)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    notes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    source_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id"), unique=True
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    process_step: Mapped[str | None] = mapped_column(String(64))
    # A process sub-ticket's stage (0, 1, ...) and the fields the process was started with.
    stage: Mapped[int | None] = mapped_column(Integer)
    process_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    response_due_at: Mapped[datetime | None] = mapped_column()
    resolution_due_at: Mapped[datetime | None] = mapped_column()
    first_response_at: Mapped[datetime | None] = mapped_column()
    sla_paused_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    resolution: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", order_by="TicketMessage.id"
    )
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id"
    )
    service: Mapped[Service | None] = relationship(foreign_keys=[service_code])
    requester: Mapped[Employee | None] = relationship()
    children: Mapped[list[Ticket]] = relationship(
        foreign_keys=[parent_id], order_by="Ticket.id", viewonly=True
    )

    __mapper_args__ = {"version_id_col": version}


class TicketMessage(Base):
    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(16))  # inbound | outbound | internal
    channel: Mapped[str | None] = mapped_column(String(16))
    author: Mapped[str | None] = mapped_column(String(320))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[Any]] = mapped_column(JSON, default=list)
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")


class TicketEvent(Base):
    """Audit trail: every status change, assignment and reassignment with from/to."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    from_value: Mapped[str | None] = mapped_column(String(255))
    to_value: Mapped[str | None] = mapped_column(String(255))
    actor: Mapped[str] = mapped_column(String(320), default="system")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class NotificationRow(Base):
    """The outbox: one message to a requester, sent by the notify job through a channel."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notification_recipient_created", "recipient", "created_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # None for a reply that belongs to no ticket (linking a chat to an employee).
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8), default="ru")
    subject: Mapped[str] = mapped_column(String(998), default="")
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    threading: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    external_id: Mapped[str | None] = mapped_column(String(255), index=True)
    fallback_of_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    enqueued_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketLink(Base):
    __tablename__ = "ticket_links"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    other_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(32), default="related")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkCode(Base):
    """A one-time code that links a channel address (a Telegram chat) to an employee's e-mail."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(320), index=True)
    email: Mapped[str] = mapped_column(String(320))
    code_hash: Mapped[str] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelState(Base):
    """Small durable state a channel keeps between runs (IMAP UIDVALIDITY/UID, bot offsets)."""

    __tablename__ = "channel_state"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SlaCalendar(Base):
    """A working-time calendar from the catalogue; `spec` is its entry, read by parse_calendar."""

    __tablename__ = "calendars"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class Branch(Base):
    """An office of the company; employees name it in `Employee.branch` (by code)."""

    __tablename__ = "branches"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_ru: Mapped[str] = mapped_column(String(255), default="")
    name_en: Mapped[str] = mapped_column(String(255), default="")
    calendar: Mapped[str | None] = mapped_column(String(64))
    timezone: Mapped[str | None] = mapped_column(String(64))


class SlaClock(Base):
    """One SLA clock of a ticket (response or resolution), measured in working time.

    `elapsed_seconds` is the working time banked before `running_since`; a paused or stopped
    clock has no `running_since`. The sweep reads only rows whose `next_check_at` has come
    (an index), so its cost does not grow with the number of open tickets.
    """

    __tablename__ = "sla_clocks"
    __table_args__ = (
        UniqueConstraint("ticket_id", "clock", name="uq_sla_clock_ticket_clock"),
        Index("ix_sla_clock_next_check", "next_check_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    clock: Mapped[str] = mapped_column(String(16))
    calendar: Mapped[str] = mapped_column(String(64))
    target_seconds: Mapped[float] = mapped_column(Float)
    elapsed_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    running_since: Mapped[datetime | None] = mapped_column()
    due_at: Mapped[datetime | None] = mapped_column()
    warn_at: Mapped[datetime | None] = mapped_column()
    next_check_at: Mapped[datetime | None] = mapped_column()
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    warned_cycle: Mapped[int] = mapped_column(Integer, default=-1)
    breached_at: Mapped[datetime | None] = mapped_column()
    stopped_at: Mapped[datetime | None] = mapped_column()
    met: Mapped[bool | None] = mapped_column(Boolean)


class WebhookSubscription(Base):
    """An outbound webhook: a URL, the events it wants, optionally one service or team."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)
    service_code: Mapped[str | None] = mapped_column(String(64))
    team_code: Mapped[str | None] = mapped_column(String(64))
    # Kept in clear: Okno signs every delivery with it (HMAC needs the secret, not a hash).
    secret: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """The webhook outbox: one event for one subscription, its exact body, its fate."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_delivery_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # X-Okno-Delivery
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(Integer, index=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class WebhookAttempt(Base):
    """One POST of a delivery: when, what came back, how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class SuggestionState(Base):
    """An analyst's or lead's verdict on one proactive suggestion (its stable id): dismissed or done."""

    __tablename__ = "suggestion_states"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(320))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PortalSignIn(Base):
    """A one-time sign-in link to the portal's "My requests", mailed to the person (hashed here)."""

    __tablename__ = "portal_sign_ins"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AnalyticsDay(Base):
    """A day whose tickets are summed up in `analytics_rollup` (router/analytics_rollup.py).

    `stale_at`: the first moment a figure of that day would change by the clock alone (an open
    ticket's deadline passing); from then on the day is read live until it is rebuilt.
    """

    __tablename__ = "analytics_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    built_at: Mapped[datetime] = mapped_column(default=utcnow)
    stale_at: Mapped[datetime | None] = mapped_column()


class AnalyticsRollup(Base):
    """One day's figures for all groups of one grouping (e.g. `team`), packed: `keys` a JSON list
    of each group's values, `counts` a float64 matrix (group × COUNTS), `hist` the duration
    histograms as (uint32 group, uint16 bucket, uint32 count) triples."""

    __tablename__ = "analytics_rollup"
    __table_args__ = (Index("ix_analytics_rollup_grouping_day", "grouping", "day"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    grouping: Mapped[str] = mapped_column(String(32))
    keys: Mapped[str] = mapped_column(Text)
    counts: Mapped[bytes] = mapped_column(LargeBinary)
    hist: Mapped[bytes] = mapped_column(LargeBinary)


class AnalyticsDirty(Base):
    """A mark: a ticket created on `day` changed after that day may have been summed up."""

    __tablename__ = "analytics_dirty"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
