"""Shared pieces of the specialists' API: the ticket number type, ETags, extra ticket fields, error docs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from api.errors import ErrorBody
from models.db import Feedback, Ticket, TicketLink, User
from models.types import utcnow
from router import sla
from router.lifecycle import sla_clocks
from router.lifecycle.states import allowed_actions

NUMBER_PATTERN = r"^[Oo][Kk][Nn][Oo]-[0-9]{1,12}$"

TicketNumber = Annotated[
    str,
    Path(
        pattern=NUMBER_PATTERN,
        description="The ticket's number, as the requester sees it.",
        examples=["OKNO-000001"],
    ),
]


ETAG_HEADER = {
    "ETag": {
        "description": 'The ticket\'s version, e.g. `"3"`: send it as If-Match to act on the ticket.',
        "schema": {"type": "string"},
    }
}


def etag(ticket: Ticket) -> str:
    """The ticket's version as a strong ETag; send it back in If-Match to change the ticket."""
    return f'"{ticket.version}"'


def sla_flags(ticket: Ticket) -> dict[str, bool]:
    return {
        "overdue": sla.is_overdue(ticket, utcnow()),
        "sla_paused": ticket.sla_paused_at is not None,
    }


def extras(ticket: Ticket, *, session: Session) -> dict[str, Any]:
    """What a ticket page needs beyond the summary: who has it, links, feedback, next actions."""
    assignee = session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    merged = session.get(Ticket, ticket.merged_into_id) if ticket.merged_into_id else None
    feedback = session.scalar(select(Feedback).where(Feedback.ticket_id == ticket.id))
    return {
        "assignee": assignee.email if assignee else None,
        "merged_into": merged.number if merged else None,
        "links": links(ticket, session=session),
        "feedback": (
            {"rating": feedback.rating, "comment": feedback.comment, "channel": feedback.channel}
            if feedback
            else None
        ),
        "first_response_at": ticket.first_response_at,
        "sla_paused_at": ticket.sla_paused_at,
        "resolved_at": ticket.resolved_at,
        "closed_at": ticket.closed_at,
        "allowed_actions": allowed_actions(ticket.status),
        "sla": sla_clocks.describe(ticket, utcnow(), session=session),
    }


def links(ticket: Ticket, *, session: Session) -> list[dict[str, str]]:
    rows = session.scalars(
        select(TicketLink).where(
            or_(TicketLink.ticket_id == ticket.id, TicketLink.other_id == ticket.id)
        )
    ).all()
    out = []
    for row in rows:
        other_id = row.other_id if row.ticket_id == ticket.id else row.ticket_id
        other = session.get(Ticket, other_id)
        if other is not None and other.number:
            out.append({"number": other.number, "kind": row.kind})
    return out


_DESCRIPTIONS = {
    400: (
        "Malformed request: a body that is not JSON, or a cursor this API did not issue",
        "bad_request",
        "There was an error parsing the body",
    ),
    401: ("No valid bearer token", "unauthorized", "send Authorization: Bearer <token>"),
    403: ("Your role or team does not allow this", "forbidden", "this needs role lead or admin"),
    404: ("No such ticket (or not one your teams may see)", "not_found", "no ticket OKNO-000042"),
    409: (
        "The action is not allowed in the ticket's current state",
        "invalid_transition",
        {
            "message": "cannot resolve a ticket that is closed",
            "status": "closed",
            "allowed": ["reopen"],
        },
    ),
    412: (
        "If-Match does not name the ticket's current version",
        "precondition_failed",
        {
            "message": "OKNO-000042 is at version 5, not 4; reload it and retry",
            "current_version": 5,
        },
    ),
    422: (
        "Invalid input; `detail` lists the fields",
        "invalid",
        [{"field": "text", "message": "String should have at least 1 character"}],
    ),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given error statuses, each with the one error shape and an example."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description, code, detail = _DESCRIPTIONS[status]
        out[status] = {
            "model": ErrorBody,
            "description": description,
            "content": {"application/json": {"example": {"error": code, "detail": detail}}},
        }
    return out
