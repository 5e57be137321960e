"""The specialist's queue: open tickets of my teams, the most urgent (overdue) first."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, Select, and_, exists, literal, literal_column, or_, select

from api.auth import CurrentUser, require_team, scope
from api.deps import SessionDep
from api.errors import ApiError
from api.schemas import TicketSummary
from api.tickets import summary
from api.views import error_responses
from api.workflow_schemas import NO_NUL, QueuePage
from models.db import Ticket, TicketMessage
from models.types import OPEN_STATUSES, Channel, Priority, utcnow

router = APIRouter(prefix="/api/v1", tags=["queue"])

OpenStatus = Literal["new", "assigned", "in_progress", "waiting_for_requester"]
assert set(OpenStatus.__args__) == {s.value for s in OPEN_STATUSES}  # type: ignore[attr-defined]

Filter = Annotated[str | None, Query(max_length=64, pattern=NO_NUL)]


@router.get(
    "/queue",
    response_model=QueuePage,
    summary="My teams' open tickets, by SLA due time",
    description=(
        "Open tickets of the caller's teams (analysts and admins: every team), sorted by "
        "resolution due time, so overdue tickets come first; tickets without a due time last. "
        "Filters combine with AND. Page with `cursor`: pass the `next_cursor` of the previous "
        "page; it is opaque and stays valid while tickets change (keyset pagination)."
    ),
    responses=error_responses(400, 401, 403, 422),
)
def queue(
    session: SessionDep,
    user: CurrentUser,
    status: Annotated[list[OpenStatus] | None, Query(description="Any of these.")] = None,
    service: Filter = None,
    team: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="One of yours.")
    ] = None,
    priority: Priority | None = None,
    channel: Channel | None = None,
    overdue: Annotated[bool | None, Query(description="true: only overdue; false: none.")] = None,
    unassigned: Annotated[bool, Query(description="Only tickets nobody has claimed.")] = False,
    mine: Annotated[bool, Query(description="Only tickets assigned to me.")] = False,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_NUL,
            description="Text search in number, subject, requester and messages.",
        ),
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the last page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> QueuePage:
    if team:
        require_team(user, team)
    query = scope(select(Ticket).where(_status_in(status or sorted(OPEN_STATUSES))), user)
    query = _filter(query, team=team, service=service, priority=priority, channel=channel)
    if overdue is not None:
        query = query.where(_overdue() if overdue else ~_overdue())
    if unassigned:
        query = query.where(Ticket.assignee_id.is_(None))
    if mine:
        query = query.where(Ticket.assignee_id == user.id)
    if q and q.strip():
        postgres = session.get_bind().dialect.name == "postgresql"
        query = query.where(_search_postgres(q.strip()) if postgres else _search(q.strip()))
    if cursor:
        query = query.where(_after(*decode_cursor(cursor)))
    # Undated tickets last, in an order the open-ticket index (team, due, id) serves as it is.
    order = (Ticket.resolution_due_at.asc().nulls_last(), Ticket.id.asc())
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    page = rows[:limit]
    more = len(rows) > limit
    return QueuePage(
        items=[TicketSummary(**summary(t)) for t in page],  # type: ignore[arg-type]
        next_cursor=encode_cursor(page[-1]) if more else None,
    )


def _filter(query: Select[Ticket], **equals: object) -> Select[Ticket]:
    columns = {
        "team": Ticket.team_code,
        "service": Ticket.service_code,
        "priority": Ticket.priority,
        "channel": Ticket.origin_channel,
    }
    for name, value in equals.items():
        if value is not None:
            query = query.where(columns[name] == str(value))
    return query


def _status_in(statuses: Sequence[str]) -> ColumnElement[bool]:
    """Statuses as SQL literals: a bound list would hide the partial index's predicate from a
    generic (prepared) plan on PostgreSQL."""
    return Ticket.status.in_([literal(str(s), literal_execute=True) for s in statuses])


def _overdue() -> ColumnElement[bool]:
    """Past due with the clock running (a ticket waiting for its requester is not overdue)."""
    return and_(
        Ticket.resolution_due_at.is_not(None),
        Ticket.resolution_due_at < utcnow(),
        Ticket.sla_paused_at.is_(None),
    )


def _search(text: str) -> ColumnElement[bool]:
    """Case-insensitive substring search on SQLite (PostgreSQL: `_search_postgres`).

    SQLite folds case for ASCII only, so the common Cyrillic spellings (as typed, lower,
    upper, capitalised) are searched too.
    """
    escaped = _like_escape(text)
    patterns = {f"%{v}%" for v in (escaped, escaped.lower(), escaped.upper(), escaped.capitalize())}
    columns = (Ticket.number, Ticket.subject, Ticket.requester_address, Ticket.requester_name)
    in_ticket = [c.ilike(p, escape="\\") for c in columns for p in patterns]
    in_messages = exists().where(
        TicketMessage.ticket_id == Ticket.id,
        or_(*[TicketMessage.body.ilike(p, escape="\\") for p in patterns]),
    )
    return or_(*in_ticket, in_messages)


# The same expression as the trigram index in models/migrations 0002_queue_search.
_SEARCH_EXPR: ColumnElement[str] = literal_column(
    "(tickets.search_head || ' ' || tickets.search_body)"
)


def _search_postgres(text: str) -> ColumnElement[bool]:
    """One LIKE over the ticket's fields and its messages' text, lower-cased on write by
    triggers and served by a trigram index."""
    # A literal, not a parameter: a prepared (generic) plan cannot see that a pattern like
    # '%не%' is too short for the trigram index and may scan all of it (seconds at 1M tickets).
    pattern = literal(f"%{_like_escape(text.lower())}%", literal_execute=True)
    return _SEARCH_EXPR.like(pattern, escape="\\")


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(ticket: Ticket) -> str:
    due = ticket.resolution_due_at.isoformat() if ticket.resolution_due_at else None
    raw = json.dumps([due, ticket.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime | None, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        due, ticket_id = json.loads(raw)
        moment = datetime.fromisoformat(due) if due is not None else None
        if not isinstance(ticket_id, int) or isinstance(ticket_id, bool) or ticket_id < 0:
            raise ValueError("bad id")
        if ticket_id > 2**62 or (moment is not None and moment.tzinfo is None):
            raise ValueError("bad cursor values")
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_cursor", "the cursor is not one this API issued") from exc
    return moment, ticket_id


def _after(due: datetime | None, ticket_id: int) -> ColumnElement[bool]:
    """Keyset condition: strictly after (due, id) in the queue's order, undated tickets last."""
    if due is None:
        return and_(Ticket.resolution_due_at.is_(None), Ticket.id > ticket_id)
    later = or_(
        Ticket.resolution_due_at > due,
        and_(Ticket.resolution_due_at == due, Ticket.id > ticket_id),
    )
    return or_(
        Ticket.resolution_due_at.is_(None), and_(Ticket.resolution_due_at.is_not(None), later)
    )
