"""Request and response bodies of the specialists' API: actions, queue, users, catalogue, analytics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from api.schemas import EMAIL_PATTERN, TicketSummary
from models.types import Channel, Priority
from router.lifecycle.moves import LINK_KINDS
from router.users import Role

# PostgreSQL cannot store NUL characters in text; refuse them up front as a 422.
NO_NUL = r"^[^\x00]*$"
NUMBER = r"^[Oo][Kk][Nn][Oo]-[0-9]{1,12}$"
CODE = r"^[a-z][a-z0-9_]{0,63}$"

Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000, pattern=NO_NUL)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2_000, pattern=NO_NUL)]
Number = Annotated[str, StringConstraints(pattern=NUMBER)]
Code = Annotated[str, StringConstraints(pattern=CODE)]
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00]*\S[^\x00]*$")
]
# Numbers and flags are strict: "5" is not a rating and 0 is not `false`.
Id = Annotated[int, Field(strict=True, ge=1, le=2**53)]
LinkKind = Literal["related", "blocks", "follow_up", "duplicate"]
assert set(LinkKind.__args__) == set(LINK_KINDS)  # type: ignore[attr-defined]


def _example(**example: Any) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


class CommentIn(BaseModel):
    model_config = _example(text="Заказали новый блок питания, привезут в четверг.", public=True)

    text: Text
    public: StrictBool = Field(
        default=False,
        description="True: sent to the requester through the ticket's origin channel. "
        "False (default): an internal note only specialists see.",
    )


class AskIn(BaseModel):
    model_config = _example(text="Could you send the serial number from the laptop's label?")

    text: Text = Field(description="The question; the requester's reply resumes the SLA clock.")


class ResolveIn(BaseModel):
    model_config = _example(resolution="The certificate is ready; pick it up at room 214.")

    resolution: Text = Field(description="Sent to the requester with a request to rate us 1–5.")


class ReasonIn(BaseModel):
    model_config = _example(reason="Duplicate request sent by mistake")

    reason: Reason | None = Field(default=None, description="Kept as an internal note.")


class AssignIn(BaseModel):
    model_config = _example(user_id=7)

    user_id: Id = Field(description="An active member of the ticket's team.")


class ReassignIn(BaseModel):
    model_config = _example(service="pay_2ndfl", reason="This is a 2-NDFL request, not HR")

    service: Code | None = Field(default=None, description="The right service; its team follows.")
    team: Code | None = Field(
        default=None, description="The right team, when the service is not known (or as a check)."
    )
    reason: Reason = Field(description="Why: kept in the audit event `reassigned`.")


class MergeIn(BaseModel):
    model_config = _example(into="OKNO-000123")

    into: Number = Field(description="The ticket that carries on; this one is closed into it.")


class LinkIn(BaseModel):
    model_config = _example(other="OKNO-000123", kind="related")

    other: Number
    kind: LinkKind = "related"


class FeedbackIn(BaseModel):
    model_config = _example(rating=5, comment="Быстро и вежливо", channel="webform")

    rating: int = Field(strict=True, ge=1, le=5)
    comment: Annotated[str, StringConstraints(max_length=4_000, pattern=NO_NUL)] | None = None
    channel: Channel = Field(description="Where the requester gave the rating.")


class QueuePage(BaseModel):
    items: list[TicketSummary]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class TeamOut(BaseModel):
    code: str
    name_ru: str
    name_en: str
    email: str | None


class MemberOut(BaseModel):
    id: int
    name: str
    email: str
    role: str


class UserOut(BaseModel):
    id: int
    name: str
    email: str
    role: Role
    teams: list[str]
    active: bool
    has_token: bool
    created_at: datetime


class UserIn(BaseModel):
    model_config = _example(
        name="Ирина Смирнова", email="i.smirnova@corp.example.com", role="specialist", teams=["hr"]
    )

    name: Name
    email: Annotated[str, StringConstraints(max_length=320, pattern=EMAIL_PATTERN)]
    role: Role
    teams: list[Code] = Field(default_factory=list, max_length=50)


class UserCreated(BaseModel):
    user: UserOut
    token: str = Field(description="The API token, shown this once; only its hash is stored.")


class UserPatched(UserOut):
    token: str | None = Field(
        default=None,
        description="A new API token when this change re-activated the user, shown this once.",
    )


class UserPatch(BaseModel):
    model_config = _example(teams=["hr", "payroll"], active=True)

    name: Name | None = None
    role: Role | None = None
    teams: list[Code] | None = Field(default=None, max_length=50)
    active: StrictBool | None = Field(default=None, description="False revokes access at once.")


Hours = Annotated[float, Field(strict=True, gt=0, le=24 * 365)]
LongText = Annotated[str, StringConstraints(max_length=20_000, pattern=NO_NUL)]


class ServiceIn(BaseModel):
    model_config = _example(
        code="hr_relocation",
        team="hr",
        name_ru="Релокация",
        name_en="Relocation",
        response_hours=8,
        resolution_hours=80,
    )

    code: Code
    team: Code
    name_ru: Name
    name_en: Name
    description_ru: LongText = ""
    description_en: LongText = ""
    priority: Priority = Priority.normal
    response_hours: Hours
    resolution_hours: Hours
    process: Code | None = None
    exclude_from_training: StrictBool = False


class ServicePatch(BaseModel):
    model_config = _example(resolution_hours=40, active=True)

    team: Code | None = None
    name_ru: Name | None = None
    name_en: Name | None = None
    description_ru: LongText | None = None
    description_en: LongText | None = None
    priority: Priority | None = None
    response_hours: Hours | None = None
    resolution_hours: Hours | None = None
    process: Code | None = Field(default=None, description="null removes the process template.")
    exclude_from_training: StrictBool | None = None
    active: StrictBool | None = Field(
        default=None, description="false hides it from the catalogue."
    )
