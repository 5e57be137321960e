"""Sliced analytics: per channel, service, team, department, branch and week, one scan per query.

Percentiles are nearest-rank (PostgreSQL's `percentile_disc`): on PostgreSQL they are computed in
the same aggregate query; on other databases in one ordered pass over (group, value) rows.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, or_, select
from sqlalchemy.orm import Session

from models.db import Employee, Ticket
from models.types import utcnow
from router.analytics import (
    AUTO_ROUTED,
    breached,
    counted,
    hours_between,
    ratings_per_ticket,
    reassigned_tickets,
)

DIMENSIONS = ("channel", "service", "team", "department", "branch", "week")
PERCENTILES = (("p50", 0.5), ("p90", 0.9))
DURATIONS = ("first_response", "resolution")
METRICS = (
    "tickets",
    "first_response_p50_hours",
    "first_response_p90_hours",
    "resolution_p50_hours",
    "resolution_p90_hours",
    "response_sla_compliance",
    "resolution_sla_compliance",
    "reassigned_share",
    "average_rating",
    "ratings",
    "classifier_coverage",
    "classifier_precision",
)


class UnknownDimension(ValueError):
    """A group_by name that is not one of DIMENSIONS."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown dimension {name!r}; use any of {', '.join(DIMENSIONS)}")
        self.name = name


def parse_group_by(value: str | Sequence[str] | None) -> list[str]:
    """`"week,team"` or `["week", "team"]` → validated dimension names, in order, no repeats."""
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in v.split(",")]
    names: list[str] = []
    for part in (p.strip() for p in parts):
        if part and part not in DIMENSIONS:
            raise UnknownDimension(part)
        if part and part not in names:
            names.append(part)
    return names


def dimension(name: str, dialect: str) -> Any:
    if name == "week":
        if dialect == "postgresql":
            return func.to_char(func.date_trunc("week", Ticket.created_at), "YYYY-MM-DD")
        return func.date(Ticket.created_at, "weekday 0", "-6 days")  # the Monday, as text
    column = {
        "channel": Ticket.origin_channel,
        "service": Ticket.service_code,
        "team": Ticket.team_code,
        "department": Employee.department,
        "branch": Employee.branch,
    }[name]
    return column


def slices(
    *, session: Session, where: list[ColumnElement[bool]], group_by: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per group (one row overall without group_by): the dimensions, then METRICS."""
    dialect = session.get_bind().dialect.name
    keys = [dimension(d, dialect).label(d) for d in group_by]
    durations = _durations(dialect)
    percentiles = dialect == "postgresql"
    rows = session.execute(_aggregate(keys, durations, where, with_percentiles=percentiles))
    by_key = {tuple(r[: len(keys)]): r._mapping for r in rows}
    if not percentiles:
        spread = {d: _percentiles_in_one_pass(session, keys, expr, where) for d, expr in durations}
    out = []
    for key in sorted(by_key, key=_sort_key):
        row = by_key[key]
        result: dict[str, Any] = dict(zip(group_by, key, strict=True))
        result.update(_metrics(row))
        for name, _ in durations:
            for label, _q in PERCENTILES:
                column = f"{name}_{label}_hours"
                value = row[column] if percentiles else spread[name].get(key, {}).get(label)
                result[column] = _round(value, 2)
        out.append({k: result[k] for k in (*group_by, *METRICS)})
    return out


def _durations(dialect: str) -> list[tuple[str, Any]]:
    return [
        ("first_response", hours_between(dialect, Ticket.created_at, Ticket.first_response_at)),
        ("resolution", hours_between(dialect, Ticket.created_at, Ticket.resolved_at)),
    ]


def _aggregate(
    keys: list[Any],
    durations: list[tuple[str, Any]],
    where: list[ColumnElement[bool]],
    *,
    with_percentiles: bool,
) -> Any:
    now = utcnow()
    reassigned, rated = reassigned_tickets(), ratings_per_ticket()
    auto = Ticket.routing.in_(AUTO_ROUTED)
    columns = [
        *keys,
        func.count(Ticket.id).label("tickets"),
        counted(_response_met()).label("response_met"),
        counted(_response_missed(now)).label("response_missed"),
        counted(_resolution_met()).label("resolution_met"),
        counted(and_(Ticket.resolution_due_at.is_not(None), breached(now))).label(
            "resolution_missed"
        ),
        func.count(reassigned.c.ticket_id).label("reassigned"),
        func.sum(rated.c.total).label("rating_total"),
        func.coalesce(func.sum(rated.c.n), 0).label("ratings"),
        counted(auto).label("auto"),
        counted(and_(auto, Ticket.service_code == Ticket.predicted_service_code)).label(
            "auto_kept"
        ),
    ]
    if with_percentiles:
        for name, expr in durations:
            for label, q in PERCENTILES:
                columns.append(
                    func.percentile_disc(q).within_group(expr).label(f"{name}_{label}_hours")
                )
    query = (
        select(*columns)
        .select_from(Ticket)
        .outerjoin(reassigned, reassigned.c.ticket_id == Ticket.id)
        .outerjoin(rated, rated.c.ticket_id == Ticket.id)
        .where(*where)
    )
    query = _with_employee(query, keys)
    return query.group_by(*keys) if keys else query


def _with_employee(query: Any, keys: list[Any]) -> Any:
    if any(k.name in ("department", "branch") for k in keys):
        return query.outerjoin(Employee, Employee.id == Ticket.requester_id)
    return query


def _response_met() -> ColumnElement[bool]:
    return and_(
        Ticket.response_due_at.is_not(None),
        Ticket.first_response_at.is_not(None),
        Ticket.first_response_at <= Ticket.response_due_at,
    )


def _response_missed(now: datetime) -> ColumnElement[bool]:
    late = Ticket.first_response_at > Ticket.response_due_at
    silent = and_(Ticket.first_response_at.is_(None), Ticket.response_due_at < now)
    return and_(Ticket.response_due_at.is_not(None), or_(late, silent))


def _resolution_met() -> ColumnElement[bool]:
    finished = func.coalesce(Ticket.resolved_at, Ticket.closed_at)
    return and_(
        Ticket.resolution_due_at.is_not(None),
        finished.is_not(None),
        finished <= Ticket.resolution_due_at,
    )


def _metrics(row: Any) -> dict[str, Any]:
    total, ratings = int(row["tickets"] or 0), int(row["ratings"] or 0)
    auto = int(row["auto"] or 0)
    return {
        "tickets": total,
        "response_sla_compliance": _share(row["response_met"], row["response_missed"]),
        "resolution_sla_compliance": _share(row["resolution_met"], row["resolution_missed"]),
        "reassigned_share": _ratio(row["reassigned"], total),
        "average_rating": _round(row["rating_total"] / ratings if ratings else None, 2),
        "ratings": ratings,
        "classifier_coverage": _ratio(auto, total),
        "classifier_precision": _ratio(row["auto_kept"], auto),
    }


def _share(met: Any, missed: Any) -> float | None:
    """Of the tickets whose deadline is decided (met, or missed already): the share met."""
    met, missed = int(met or 0), int(missed or 0)
    return _ratio(met, met + missed)


def _ratio(part: Any, whole: int) -> float | None:
    return round(int(part or 0) / whole, 4) if whole else None


def _round(value: Any, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((k is None, "" if k is None else str(k)) for k in key)


def _percentiles_in_one_pass(
    session: Session, keys: list[Any], expr: Any, where: list[ColumnElement[bool]]
) -> dict[tuple[Any, ...], dict[str, float]]:
    """Nearest-rank percentiles per group from one ordered, streamed pass (no group in memory
    beyond its own values)."""
    group = keys or [literal(0).label("all")]
    query = _with_employee(
        select(*group, expr.label("v"))
        .select_from(Ticket)
        .where(*where, expr.is_not(None))
        .order_by(*group, expr),
        keys,
    )
    result = session.execute(query.execution_options(yield_per=10_000))
    width = len(group)
    out: dict[tuple[Any, ...], dict[str, float]] = {}
    for key, rows in groupby(result, key=lambda r: tuple(r[:width])):
        out[key if keys else ()] = _nearest_rank(r[-1] for r in rows)
    return out


def _nearest_rank(values: Iterable[float]) -> dict[str, float]:
    ordered = list(values)
    n = len(ordered)
    return {label: ordered[max(0, math.ceil(q * n - 1e-9) - 1)] for label, q in PERCENTILES}


def to_csv(rows: list[dict[str, Any]], group_by: Sequence[str]) -> str:
    """Header then values: the same text for the API's CSV and `okno report --csv`."""
    columns = [*group_by, *METRICS]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")  # as a terminal and a file show it
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return out.getvalue()
