"""Analysts' read endpoints: how the service centre is doing, and the ticket facts as CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import ColumnElement, and_, exists, func, literal_column, or_, select
from sqlalchemy.orm import Session

from api.auth import AnalystUser
from api.deps import SessionDep
from api.errors import ApiError
from api.views import error_responses
from models.db import Feedback, Ticket, TicketEvent
from models.types import OPEN_STATUSES, utcnow

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

# Routing decisions the classifier made on its own (no requester choice, hint or triage).
AUTO_ROUTED = ("service", "team")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso(value: object) -> object:
    """Only ISO 8601: pydantic would also read `0.5` as a Unix timestamp."""
    if isinstance(value, str) and not ISO_DATE.match(value):
        raise ValueError("use an ISO 8601 date or time, e.g. 2026-01-31T00:00:00Z")
    return value


Since = Annotated[
    datetime | None,
    BeforeValidator(_iso),
    Query(description="Tickets created at or after (ISO 8601).", examples=["2026-01-01T00:00:00Z"]),
]
Until = Annotated[
    datetime | None,
    BeforeValidator(_iso),
    Query(description="Tickets created before (ISO 8601).", examples=["2026-02-01T00:00:00Z"]),
]


class Summary(BaseModel):
    tickets: int
    by_status: dict[str, int]
    by_team: dict[str, int]
    by_channel: dict[str, int]
    by_routing: dict[str, int]
    auto_routed_share: float | None = Field(description="Routed by the classifier alone.")
    reassigned_share: float | None = Field(description="Reassigned at least once: misroutes.")
    sla_breach_share: float | None = Field(
        description="Of tickets with a due time: finished late, or open and overdue now."
    )
    average_rating: float | None
    ratings: int
    resolution_hours_by_team: dict[str, float] = Field(
        description="Average hours from creation to resolution, resolved tickets only."
    )


def _window(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions = []
    if since is not None:
        conditions.append(Ticket.created_at >= _utc(since, "since"))
    if until is not None:
        conditions.append(Ticket.created_at < _utc(until, "until"))
    return conditions


def _utc(moment: datetime, name: str) -> datetime:
    """Naive times are UTC; an offset at the edge of the calendar cannot be converted."""
    try:
        return moment if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as exc:
        raise ApiError(422, "invalid", [{"field": name, "message": "out of range"}]) from exc


def _reassigned() -> ColumnElement[bool]:
    return exists().where(TicketEvent.ticket_id == Ticket.id, TicketEvent.kind == "reassigned")


def _breached() -> ColumnElement[bool]:
    finished = func.coalesce(Ticket.resolved_at, Ticket.closed_at)
    running_late = and_(
        Ticket.status.in_(list(OPEN_STATUSES)),
        Ticket.resolution_due_at < utcnow(),
        Ticket.sla_paused_at.is_(None),
    )
    return or_(and_(finished.is_not(None), finished > Ticket.resolution_due_at), running_late)


def _hours(session: Session, start: Any, end: Any) -> Any:
    """Hours between two timestamps in the database's own date arithmetic."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return func.extract("epoch", end - start) / 3600.0
    if dialect in ("mysql", "mariadb"):
        return func.timestampdiff(literal_column("SECOND"), start, end) / 3600.0
    return (func.julianday(end) - func.julianday(start)) * 24.0


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _count(session: Session, where: list[ColumnElement[bool]], *extra: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count(Ticket.id)).where(*where, *extra)) or 0


def _by(session: Session, column: Any, where: list[ColumnElement[bool]]) -> dict[str, int]:
    rows = session.execute(select(column, func.count(Ticket.id)).where(*where).group_by(column))
    return {str(key): count for key, count in rows}


@router.get(
    "/summary",
    response_model=Summary,
    summary="Counts, routing quality, SLA and satisfaction (analysts, admins)",
    responses=error_responses(401, 403, 422),
)
def summary(
    session: SessionDep, user: AnalystUser, since: Since = None, until: Until = None
) -> Summary:
    where = _window(since, until)
    total = _count(session, where)
    with_due = _count(session, where, Ticket.resolution_due_at.is_not(None))
    rating = session.execute(
        select(func.avg(Feedback.rating), func.count(Feedback.id))
        .join(Ticket, Ticket.id == Feedback.ticket_id)
        .where(*where)
    ).one()
    hours = _hours(session, Ticket.created_at, Ticket.resolved_at)
    per_team = session.execute(
        select(Ticket.team_code, func.avg(hours))
        .where(*where, Ticket.resolved_at.is_not(None))
        .group_by(Ticket.team_code)
    )
    return Summary(
        tickets=total,
        by_status=_by(session, Ticket.status, where),
        by_team=_by(session, Ticket.team_code, where),
        by_channel=_by(session, Ticket.origin_channel, where),
        by_routing=_by(session, Ticket.routing, where),
        auto_routed_share=_share(_count(session, where, Ticket.routing.in_(AUTO_ROUTED)), total),
        reassigned_share=_share(_count(session, where, _reassigned()), total),
        sla_breach_share=_share(
            _count(session, where, Ticket.resolution_due_at.is_not(None), _breached()), with_due
        ),
        average_rating=round(float(rating[0]), 2) if rating[0] is not None else None,
        ratings=rating[1],
        resolution_hours_by_team={t: round(float(h), 2) for t, h in per_team if h is not None},
    )


EXPORT_COLUMNS = (
    "number",
    "created_at",
    "channel",
    "routing",
    "classifier_version",
    "confidence",
    "predicted_service",
    "service",
    "team",
    "status",
    "priority",
    "reassigned",
    "resolution_due_at",
    "resolved_at",
    "breached",
    "rating",
)


@router.get(
    "/export",
    summary="Ticket facts as CSV (analysts, admins)",
    description="One row per ticket, no texts or requester data: the facts behind the summary.",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **error_responses(401, 403, 422),
    },
)
def export(
    session: SessionDep, user: AnalystUser, since: Since = None, until: Until = None
) -> Response:
    query = (
        select(Ticket, _reassigned(), _breached(), Feedback.rating)
        .outerjoin(Feedback, Feedback.ticket_id == Ticket.id)
        .where(*_window(since, until))
        .order_by(Ticket.id)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for t, reassigned, breached, rating in session.execute(query):
        writer.writerow(
            [
                t.number, t.created_at.isoformat(), t.origin_channel, t.routing,
                t.classifier_version, t.confidence, t.predicted_service_code, t.service_code,
                t.team_code, t.status, t.priority, int(bool(reassigned)),
                t.resolution_due_at.isoformat() if t.resolution_due_at else "",
                t.resolved_at.isoformat() if t.resolved_at else "",
                int(bool(breached)), rating if rating is not None else "",
            ]
        )  # fmt: skip
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
