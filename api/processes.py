"""Starting a cross-department process explicitly, and the requester cancelling their request.

`POST /api/v1/processes/{code}` - leads and admins. An HR system calls with its own account's
token (a user with the lead role in team hr, or an admin account for an integration) - there is
no separate kind of token. The requester (who hears the milestones, by e-mail) defaults to the
caller.

`POST /api/v1/messages/{id}/cancel?key=…` (and its My requests twin in api/portal_follow.py,
`POST /api/v1/portal/tickets/{number}/cancel`) - whoever holds the message's status link (the
requester: it came with our first answer) withdraws the request; a process's parent closes with
its open and planned steps (router/lifecycle/process_cancel.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from api.auth import require
from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError
from api.schemas import EMAIL_PATTERN, TicketDetail
from api.tickets import detail
from api.views import error_responses, etag
from api.workflow import to_api_error
from api.workflow_schemas import CODE, NO_NUL
from models.db import InboundMessage, Ticket, User
from models.types import utcnow
from router import status_link
from router.lifecycle import process_cancel, process_start, states
from router.runtime import Runtime
from router.sends import enqueue_send
from router.users import Role

router = APIRouter(prefix="/api/v1", tags=["processes"])

StarterUser = Annotated[User, Depends(require(Role.lead, Role.admin))]
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=CODE)]
FieldValue = Annotated[str, StringConstraints(min_length=1, max_length=2_000, pattern=NO_NUL)]


class ProcessStartIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "fields": {
                        "start_date": "2027-01-11",
                        "position": "Analyst",
                        "manager_email": "i.ivanov@corp.example.com",
                    },
                    "requester": "i.ivanov@corp.example.com",
                }
            ]
        },
    )

    fields: dict[FieldName, FieldValue] = Field(default_factory=dict, max_length=50)
    requester: Annotated[str, StringConstraints(max_length=320, pattern=EMAIL_PATTERN)] | None = (
        None
    )
    subject: (
        Annotated[str, StringConstraints(min_length=1, max_length=998, pattern=NO_NUL)] | None
    ) = None
    language: Annotated[str, StringConstraints(pattern=r"^(ru|en)$")] | None = None


@router.post(
    "/processes/{code}",
    response_model=TicketDetail,
    status_code=201,
    responses=error_responses(400, 401, 403, 404, 422),
    summary="Start a process (onboarding, offboarding, a business trip) with its fields",
    description="Leads and admins (an HR system uses its account's token). Opens the parent "
    "ticket and every stage's sub-tickets; later stages are `planned` until the one before is "
    "done. The requester (default: you) hears each milestone by e-mail.",
)
def start_process(
    code: Annotated[str, Path(pattern=CODE)],
    body: ProcessStartIn,
    session: SessionDep,
    runtime: RuntimeDep,
    user: StarterUser,
    response: Response,
) -> Any:
    try:
        outcome = process_start.start(
            session=session,
            code=code,
            fields=dict(body.fields),
            requester=body.requester or user.email,
            actor=user.email,
            now=utcnow(),
            subject=body.subject,
            language=body.language,
        )
        session.commit()
    except states.WorkflowError as exc:
        raise to_api_error(exc) from exc
    enqueue_send(runtime, outcome.notification_ids)
    session.expire_all()
    response.headers["ETag"] = etag(outcome.changed)
    return detail(outcome.changed, session=session)


class CancelIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "the candidate declined"}]}
    )

    reason: (
        Annotated[str, StringConstraints(min_length=1, max_length=2_000, pattern=NO_NUL)] | None
    ) = None


class CancelOut(BaseModel):
    ticket: str = Field(description="The request, now `closed`.")
    status: str
    stopped: list[str] = Field(
        default_factory=list, description="The process's steps closed with it (open or planned)."
    )


@router.post(
    "/messages/{message_id}/cancel",
    response_model=CancelOut,
    responses=error_responses(403, 404, 409, 422),
    summary="Cancel my request (with its status link's key)",
    description="The requester withdraws the request the message made. A process (onboarding, "
    "a business trip) is cancelled as a whole: its open and planned steps close with the reason, "
    "and the requester gets one message. 409 `not_cancellable` when the request is already "
    "resolved or closed, `part_of_process` for a step of a process, `not_ready` before the "
    "message has a ticket. 403 without the status link's key.",
)
def cancel_request(
    message_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: SessionDep,
    runtime: RuntimeDep,
    key: Annotated[str | None, Query(max_length=64, description="The status_url's key.")] = None,
    body: CancelIn | None = None,
) -> CancelOut:
    if not status_link.key_matches(runtime.secret_key, message_id, key):
        raise ApiError(403, "forbidden", "the status link's key is missing or wrong")
    row = session.get(InboundMessage, message_id)
    if row is None:
        raise ApiError(404, "not_found", f"no message {message_id}")
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
    if ticket is None:
        raise ApiError(409, "not_ready", "the message has no ticket yet; try again shortly")
    return cancel_ticket(ticket, session=session, runtime=runtime, via=row.channel, body=body)


def cancel_ticket(
    ticket: Ticket, *, session: Session, runtime: Runtime, via: str, body: CancelIn | None
) -> CancelOut:
    """Both doors of the requester's cancel (the status link, My requests) end here."""
    try:
        outcome = process_cancel.cancel(
            ticket, session=session, via=via, now=utcnow(), reason=body.reason if body else None
        )
        session.commit()
    except states.WorkflowError as exc:
        raise to_api_error(exc) from exc
    enqueue_send(runtime, outcome.notification_ids)
    return CancelOut(
        ticket=outcome.changed.number or "", status=outcome.changed.status, stopped=outcome.stopped
    )
