"""Request and response bodies of the public API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from api.employee_schemas import EmployeeOut
from models.types import without_nul

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class WebformIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Анна Петрова",
                    "email": "a.petrova@corp.example.com",
                    "subject": "Не работает VPN",
                    "text": "С утра не подключается VPN из дома.",
                    "submission_id": "form-2f9c1e",
                }
            ]
        }
    )

    name: str = Field(min_length=1, max_length=255)
    email: str = Field(pattern=EMAIL_PATTERN, max_length=320)
    subject: str = Field(default="", max_length=998)
    text: str = Field(min_length=1, description="The request in the requester's words.")
    service_code: str | None = Field(
        default=None, max_length=64, description="A catalogue service the requester chose."
    )
    submission_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="The form's idempotency key."
    )
    language: Literal["ru", "en"] | None = None
    attachments: list[Annotated[str, StringConstraints(min_length=1, max_length=2000)]] = Field(
        default_factory=list,
        max_length=20,
        description="Ids answered by POST /api/v1/intake/uploads (the files of this request).",
    )

    @field_validator("text")
    @classmethod
    def _says_something(cls, value: str) -> str:
        if not without_nul(value).strip():
            raise ValueError("the request is empty: write what you need")
        return value


class Accepted(BaseModel):
    message_id: int
    status_url: str
    duplicate: bool = False
    ticket: str | None = None
    status_page_url: str | None = Field(
        default=None, description="The person-facing status page of this request (a link to keep)."
    )


class MessageStatusOut(BaseModel):
    status: Literal["queued", "processed", "failed", "rejected"]
    ticket: str | None
    error: str | None
    channel: str
    received_at: datetime
    updates: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Notifications sent to the requester (only with the status_url's key).",
    )
    rating_urls: dict[str, str] | None = Field(
        default=None,
        description="One-tap rating links 1-5 while the resolved request may be rated (keyed).",
    )


class ServiceOut(BaseModel):
    code: str
    team: str
    name_ru: str
    name_en: str
    description_ru: str
    description_en: str
    priority: str
    response_hours: float
    resolution_hours: float
    process: str | None
    active: bool = True


class MessageOut(BaseModel):
    id: int
    direction: str
    channel: str | None
    author: str | None
    body: str
    attachments: list[Any]
    created_at: datetime


class EventOut(BaseModel):
    id: int
    kind: str
    from_value: str | None
    to_value: str | None
    actor: str
    data: dict[str, Any]
    created_at: datetime


class TicketSummary(BaseModel):
    number: str
    subject: str
    service: str | None
    team: str
    status: str
    priority: str
    channel: str
    requester: str | None
    requester_verified: bool
    assignee_id: int | None
    response_due_at: datetime | None
    resolution_due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="Send it back as If-Match to change the ticket.")
    overdue: bool = Field(default=False, description="Past its resolution due time, clock running.")
    sla_paused: bool = Field(default=False, description="The SLA clock waits for the requester.")


class LinkOut(BaseModel):
    number: str
    kind: str


class FeedbackOut(BaseModel):
    rating: int
    comment: str | None
    channel: str | None


class SlaClockOut(BaseModel):
    clock: str = Field(description="`response` or `resolution`.")
    calendar: str
    state: str = Field(description="running, paused, met or breached.")
    due_at: datetime | None
    elapsed_seconds: int = Field(description="Working time the clock has run.")
    remaining_seconds: int = Field(description="Working time left (negative once breached).")
    target_seconds: int


class ChildOut(BaseModel):
    """A process sub-ticket as its parent lists it."""

    number: str
    service: str | None
    team: str
    status: str
    stage: int | None


class TicketDetail(TicketSummary):
    requester_name: str | None
    language: str
    routing: str
    classifier: dict[str, Any]
    notes: list[Any]
    parent: str | None
    children: list[ChildOut]
    stage: int | None = None  # a process sub-ticket's stage (0 runs first)
    fields: dict[str, Any] = Field(default_factory=dict)  # the process's fields
    resolution: str | None
    messages: list[MessageOut]
    events: list[EventOut]
    assignee: str | None = None
    merged_into: str | None = None
    links: list[LinkOut] = Field(default_factory=list)
    feedback: FeedbackOut | None = None
    first_response_at: datetime | None = None
    sla_paused_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    allowed_actions: list[str] = Field(
        default_factory=list, description="Actions the ticket's status allows (POST .../<action>)."
    )
    sla: list[SlaClockOut] = Field(
        default_factory=list, description="The SLA clocks: due times and working time left."
    )
    requester_employee: EmployeeOut | None = Field(
        default=None, description="The requester in the directory: department, branch, manager."
    )
