"""Ticket actions: POST /api/v1/tickets/{number}/<action>, and the audit trail.

Every action answers the changed ticket with its new ETag, takes an optional If-Match (the
version from the ticket's ETag; a stale one is 412, never a silent overwrite), writes an
audit event, and enqueues the requester's notification only after the change is committed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from api.auth import ActingUser, CurrentUser, RatingUser, require_lead_of, visible_ticket
from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError
from api.schemas import EventOut, TicketDetail
from api.tickets import detail
from api.views import ETAG_HEADER, TicketNumber, error_responses, etag
from api.workflow_schemas import (
    AskIn,
    AssignIn,
    CommentIn,
    FeedbackIn,
    LinkIn,
    MergeIn,
    ReasonIn,
    ReassignIn,
    ResolveIn,
)
from models.db import Ticket, User
from router.lifecycle import actions, moves, states
from router.lifecycle.outcome import Outcome
from router.lifecycle.states import TRANSITIONS
from router.runtime import Runtime
from router.sends import enqueue_send

router = APIRouter(prefix="/api/v1", tags=["ticket actions"])

IF_MATCH_DOC = (
    'The ticket version you last saw (its ETag, e.g. `"3"`; a bare `3` works too). '
    "If the ticket changed since, the action is refused with 412. Leave it out to act regardless."
)
IfMatch = Annotated[str | None, Header(alias="If-Match", description=IF_MATCH_DOC, max_length=200)]
ERRORS = error_responses(400, 401, 403, 404, 409, 412, 422)


@dataclass
class Act:
    """What every action needs: who acts, on which session, and the If-Match they sent."""

    session: Session
    runtime: Runtime
    user: User
    response: Response
    if_match: str | None

    def run(self, number: str, call: Callable[[int | None], Outcome]) -> TicketDetail:
        """Check access, apply the action, commit, then enqueue its notifications."""
        ticket = visible_ticket(number, self.user, session=self.session)
        try:
            result = call(expected_version(self.if_match, ticket))
            self.session.commit()
        except StaleDataError as exc:  # someone changed the ticket between our read and write
            raise ApiError(409, "conflict", "the ticket changed meanwhile; reload it") from exc
        except states.WorkflowError as exc:
            raise to_api_error(exc) from exc
        enqueue_send(self.runtime, result.notification_ids)
        self.session.expire_all()  # the answer shows the committed state, new messages included
        self.response.headers["ETag"] = etag(result.changed)
        return detail(result.changed, session=self.session)

    def apply(self, number: str, action: Callable[..., Outcome], **fields: Any) -> TicketDetail:
        """Run a router/lifecycle action as this user, with the If-Match version it was sent."""
        return self.run(
            number,
            lambda version: action(
                session=self.session,
                ticket_number=number,
                user_id=self.user.id,
                expected_version=version,
                **fields,
            ),
        )


def act(
    session: SessionDep,
    runtime: RuntimeDep,
    user: ActingUser,
    response: Response,
    if_match: IfMatch = None,
) -> Act:
    return Act(session, runtime, user, response, if_match)


def rate(
    session: SessionDep,
    runtime: RuntimeDep,
    user: RatingUser,
    response: Response,
    if_match: IfMatch = None,
) -> Act:
    return Act(session, runtime, user, response, if_match)


ActDep = Annotated[Act, Depends(act)]
RateDep = Annotated[Act, Depends(rate)]


def expected_version(header: str | None, ticket: Ticket) -> int | None:
    """The version If-Match names: `3`, `"3"`, `W/"3"`, a list of them, or `*` (any)."""
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for part in header.split(","):
        value = part.strip().removeprefix("W/").strip('"')
        if not (value.isascii() and value.isdigit()):  # "²".isdigit() is True
            raise ApiError(
                412,
                "precondition_failed",
                {
                    "message": f'If-Match {header!r} is not a ticket version such as "3"',
                    "current_version": ticket.version,
                },
            )
        versions.add(int(value))
    return ticket.version if ticket.version in versions else min(versions)


def to_api_error(exc: states.WorkflowError) -> ApiError:
    """The HTTP face of a workflow outcome, in the one error shape."""
    if isinstance(exc, states.TicketNotFound):
        return ApiError(404, exc.code, exc.message)
    if isinstance(exc, states.VersionMismatch):
        return ApiError(
            412,
            "precondition_failed",
            {"message": exc.message, "current_version": exc.details["current"]},
        )
    if isinstance(exc, states.InvalidTransition):
        return ApiError(409, exc.code, {"message": exc.message, **exc.details})
    if isinstance(exc, states.InvalidInput):
        field = exc.details.get("field", "body")
        return ApiError(422, exc.code, [{"field": field, "message": exc.message}])
    return ApiError(409, exc.code, exc.message)


def allowed_from(action: str) -> str:
    return "Allowed from: " + ", ".join(f"`{s}`" for s in TRANSITIONS[action]) + "."


def post(path: str, summary: str, description: str) -> Callable[[Any], Any]:
    """Register an action endpoint with its documentation, errors and ETag header."""
    return router.post(
        "/tickets/{number}/" + path,
        response_model=TicketDetail,
        summary=summary,
        description=description,
        responses={200: {"headers": ETAG_HEADER}, **ERRORS},
    )


@post("claim", "Claim the ticket", "It becomes yours; new → assigned. " + allowed_from("claim"))
def claim(number: TicketNumber, ctx: ActDep) -> TicketDetail:
    return ctx.apply(number, actions.claim)


@post(
    "assign",
    "Assign to a team member (leads)",
    "Leads of the ticket's team (and admins) give it to an active member of that team. "
    + allowed_from("assign"),
)
def assign(number: TicketNumber, body: AssignIn, ctx: ActDep) -> TicketDetail:
    require_lead_of(ctx.user, visible_ticket(number, ctx.user, session=ctx.session))
    return ctx.apply(number, actions.assign, assignee_id=body.user_id)


@post(
    "start",
    "Start (or resume) work",
    "→ in_progress; from waiting_for_requester this restarts the SLA clock. "
    + allowed_from("start"),
)
def start(number: TicketNumber, ctx: ActDep) -> TicketDetail:
    return ctx.apply(number, actions.start)


@post(
    "comment",
    "Comment: public (to the requester) or internal",
    "A public comment is sent to the requester through the channel the ticket came from "
    "(e-mail, Telegram, phone/SMS, the web form's status page); an internal one is not. "
    "Allowed in every status.",
)
def comment(number: TicketNumber, body: CommentIn, ctx: ActDep) -> TicketDetail:
    return ctx.apply(number, actions.comment, text=body.text, public=body.public)


@post(
    "ask",
    "Ask the requester",
    "Sends the question through the origin channel; → waiting_for_requester, which pauses "
    "the SLA clock until the requester answers. " + allowed_from("ask"),
)
def ask(number: TicketNumber, body: AskIn, ctx: ActDep) -> TicketDetail:
    return ctx.apply(number, actions.ask, text=body.text)


@post(
    "resolve",
    "Resolve with a resolution",
    "→ resolved; the requester gets the resolution with a request to rate it 1–5. "
    + allowed_from("resolve"),
)
def resolve(number: TicketNumber, body: ResolveIn, ctx: ActDep) -> TicketDetail:
    return ctx.apply(number, actions.resolve, resolution=body.resolution)


@post(
    "close",
    "Close",
    "→ closed. Closing a ticket that was not resolved tells the requester. "
    + allowed_from("close"),
)
def close(number: TicketNumber, ctx: ActDep, body: ReasonIn | None = None) -> TicketDetail:
    reason = body.reason if body else None
    return ctx.apply(number, actions.close, reason=reason)


@post(
    "reopen",
    "Reopen",
    "→ assigned (if it has an assignee) or new. A merged duplicate cannot be reopened. "
    + allowed_from("reopen"),
)
def reopen(number: TicketNumber, ctx: ActDep, body: ReasonIn | None = None) -> TicketDetail:
    reason = body.reason if body else None
    return ctx.apply(number, actions.reopen, reason=reason)


@post(
    "reassign",
    "Reassign to another service or team",
    "Fixes a misroute: `service_code`/`team_code` change, the classifier's prediction stays "
    "(so the pair is the corrected training label), due dates follow the new service, the "
    "assignee is cleared, and an audit event `reassigned` records from → to and the reason. "
    + allowed_from("reassign"),
)
def reassign(number: TicketNumber, body: ReassignIn, ctx: ActDep) -> TicketDetail:
    return ctx.apply(
        number,
        moves.reassign,
        service_code=body.service,
        team_code=body.team,
        reason=body.reason,
    )


@post(
    "merge",
    "Merge this duplicate into another ticket",
    "This ticket is closed with `merged_into` set, both get an event, they are linked, and "
    "this ticket's requester is told where work carries on. " + allowed_from("merge"),
)
def merge(number: TicketNumber, body: MergeIn, ctx: ActDep) -> TicketDetail:
    visible_ticket(body.into, ctx.user, session=ctx.session)
    return ctx.apply(number, moves.merge, into_number=body.into)


@post("links", "Link to another ticket", "Both tickets get a `linked` event. Any status.")
def link(number: TicketNumber, body: LinkIn, ctx: ActDep) -> TicketDetail:
    visible_ticket(body.other, ctx.user, session=ctx.session)
    return ctx.apply(number, moves.link, other_number=body.other, kind=body.kind)


@post(
    "feedback",
    "Record the requester's rating",
    "A rating 1–5 (and comment) the requester gave through a channel; one per ticket, a new "
    "one replaces the old. Leads and admins (channel integrations) only: specialists do not "
    "rate themselves. Telegram's rating buttons arrive through the worker instead. "
    + allowed_from("feedback"),
)
def feedback(number: TicketNumber, body: FeedbackIn, ctx: RateDep) -> TicketDetail:
    return ctx.run(
        number,
        lambda v: actions.record_feedback(
            session=ctx.session,
            ticket_number=number,
            rating=body.rating,
            comment=body.comment,
            channel=body.channel.value,
            recorded_by=ctx.user.email,
            expected_version=v,
        ),
    )


@router.get(
    "/tickets/{number}/events",
    response_model=list[EventOut],
    tags=["tickets"],
    summary="The ticket's audit trail",
    description="Every change, oldest first: status, assignment, comments, reassignments "
    "(from → to, reason), merges, links, feedback.",
    responses=error_responses(401, 404, 422),
)
def events(number: TicketNumber, session: SessionDep, user: CurrentUser) -> list[EventOut]:
    ticket = visible_ticket(number, user, session=session)
    return [EventOut.model_validate(e, from_attributes=True) for e in ticket.events]
