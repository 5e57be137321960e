"""Analysts' read endpoints: how the service centre is doing, and the ticket facts as CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import ColumnElement, select

from api.auth import AnalystUser, require
from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError
from api.views import error_responses
from models.db import Feedback, Ticket, User
from router import analytics as stats
from router import analytics_rollup as rollup
from router import analytics_slices as slicing
from router import suggestions as proactive
from router.analytics_cache import cached
from router.users import Role

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
# Suggestions are for those who shape the catalogue and the teams' work: analysts and leads.
PlannerUser = Annotated[User, Depends(require(Role.analyst, Role.lead, Role.admin))]

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
    sla_compliance: dict[str, Any] = Field(
        default_factory=dict,
        description="Per clock (`response`, `resolution`), then `by_team`/`by_service`/"
        "`by_channel`: met and breached clocks and the met share, from the SLA events.",
    )
    group_by: list[str] = Field(default_factory=list, description="The dimensions of `groups`.")
    groups: list[dict[str, Any]] = Field(
        default_factory=list,
        description="With group_by: one row per group, its dimensions then the slice metrics.",
    )


class Slices(BaseModel):
    group_by: list[str]
    metrics: list[str] = Field(description="The metric columns of each row, in order.")
    rows: list[dict[str, Any]]


GroupBy = Annotated[
    str | None,
    Query(
        description=f"Comma-separated dimensions: any of {', '.join(slicing.DIMENSIONS)}.",
        examples=["week,team"],
    ),
]


def _group_by(value: str | None) -> list[str]:
    try:
        return slicing.parse_group_by(value)
    except slicing.UnknownDimension as exc:
        raise ApiError(422, "invalid", [{"field": "group_by", "message": str(exc)}]) from exc


def _window(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    try:
        return stats.created_between(since, until)
    except stats.WindowError as exc:
        raise ApiError(422, "invalid", [{"field": exc.field, "message": "out of range"}]) from exc


@router.get(
    "/summary",
    response_model=Summary,
    summary="Counts, routing quality, SLA and satisfaction (analysts, admins)",
    responses=error_responses(401, 403, 422),
)
def summary(
    runtime: RuntimeDep,
    session: SessionDep,
    user: AnalystUser,
    since: Since = None,
    until: Until = None,
    group_by: GroupBy = None,
) -> Summary:
    _window(since, until)
    dims = _group_by(group_by)

    def compute() -> dict[str, Any]:
        # Finished days from the daily rollup, the rest live: exact, see router/analytics_rollup.
        return rollup.summarize(session=session, since=since, until=until, group_by=dims)

    params = {"since": since, "until": until, "group_by": dims}
    return Summary(**cached(runtime.redis, session, "summary", params, compute))


def _slices(
    runtime: RuntimeDep, session: SessionDep, since: Any, until: Any, dims: list[str]
) -> list[dict[str, Any]]:
    _window(since, until)
    return cached(
        runtime.redis,
        session,
        "slices",
        {"since": since, "until": until, "group_by": dims},
        lambda: rollup.slices(session=session, since=since, until=until, group_by=dims),
    )


@router.get(
    "/slices",
    response_model=Slices,
    summary="Counts, p50/p90 times, SLA compliance, misroutes, rating, drift per group",
    responses=error_responses(401, 403, 422),
)
def slices(
    runtime: RuntimeDep,
    session: SessionDep,
    user: AnalystUser,
    since: Since = None,
    until: Until = None,
    group_by: GroupBy = None,
) -> Slices:
    dims = _group_by(group_by)
    rows = _slices(runtime, session, since, until, dims)
    return Slices(group_by=dims, metrics=list(slicing.METRICS), rows=rows)


@router.get(
    "/slices/export",
    summary="The slices as CSV, the same as `okno report --csv` (analysts, admins)",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **error_responses(401, 403, 422),
    },
)
def slices_export(
    runtime: RuntimeDep,
    session: SessionDep,
    user: AnalystUser,
    since: Since = None,
    until: Until = None,
    group_by: GroupBy = None,
) -> Response:
    dims = _group_by(group_by)
    rows = _slices(runtime, session, since, until, dims)
    return Response(slicing.to_csv(rows, dims), media_type="text/csv; charset=utf-8")


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
        select(Ticket, stats.reassigned(), stats.breached(), Feedback.rating)
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


class Suggestions(BaseModel):
    suggestions: list[dict[str, Any]] = Field(
        description="Each with id, kind (baseline, recurring, new_service), service, "
        "department, requests, state (open, dismissed, done) and the kind's own figures."
    )


def _suggestions(
    session: SessionDep, since: datetime | None, until: datetime | None, include_closed: bool
) -> list[dict[str, Any]]:
    where = _window(since or proactive.default_since(), until)
    return proactive.suggest(session=session, where=where, include_closed=include_closed)


@router.get(
    "/suggestions",
    response_model=Suggestions,
    summary="Baseline, recurring and new catalogue services from the history (analysts, leads)",
    description="Without `since`: the last 90 days. Dismissed and done ones only on request.",
    responses=error_responses(401, 403, 422),
)
def suggestions(
    session: SessionDep,
    user: PlannerUser,
    since: Since = None,
    until: Until = None,
    include_closed: bool = False,
) -> Suggestions:
    return Suggestions(suggestions=_suggestions(session, since, until, include_closed))


VERDICTS = {"dismiss": "dismissed", "done": "done", "reopen": "open"}


@router.post(
    "/suggestions/{suggestion_id}/{verdict}",
    response_model=Suggestions,
    summary="Dismiss a suggestion, mark it done, or reopen it (analysts, leads)",
    description="`verdict` is dismiss, done or reopen; the window is the listing's.",
    responses=error_responses(401, 403, 404, 422),
)
def suggestion_verdict(
    session: SessionDep,
    user: PlannerUser,
    suggestion_id: str,
    verdict: str,
    since: Since = None,
    until: Until = None,
) -> Suggestions:
    if verdict not in VERDICTS:
        raise ApiError(404, "not_found", f"no verdict {verdict!r}; use {', '.join(VERDICTS)}")
    found = [s for s in _suggestions(session, since, until, True) if s["id"] == suggestion_id]
    if not found:
        raise ApiError(404, "not_found", f"no suggestion {suggestion_id} in this window")
    proactive.set_state(
        session=session, suggestion=found[0], state=VERDICTS[verdict], actor=user.email
    )
    session.commit()
    return Suggestions(suggestions=[{**found[0], "state": VERDICTS[verdict]}])
