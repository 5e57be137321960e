"""Service statistics: volumes, routing quality, SLA and satisfaction, for the API and the CLI."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal_column, or_, select
from sqlalchemy.orm import Session, aliased

from models.db import Feedback, Ticket, TicketEvent
from models.types import OPEN_STATUSES, utcnow

# Routing decisions the classifier made on its own (no requester choice, hint or triage).
AUTO_ROUTED = ("service", "team")


class WindowError(ValueError):
    """A window bound that cannot be turned into UTC (an offset at the edge of the calendar)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field}: out of range")
        self.field = field


def created_between(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    """Tickets created in [since, until); naive times are UTC."""
    conditions = []
    if since is not None:
        conditions.append(Ticket.created_at >= _utc(since, "since"))
    if until is not None:
        conditions.append(Ticket.created_at < _utc(until, "until"))
    return conditions


def _utc(moment: datetime, field: str) -> datetime:
    try:
        return moment if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as exc:
        raise WindowError(field) from exc


def summarize(*, session: Session, where: list[ColumnElement[bool]]) -> dict[str, Any]:
    """The analytics summary over tickets matching `where` (e.g. a creation-time window).

    One scan: every figure is a sum over (status, team, channel, routing) groups, added up here.
    """
    hours = _hours(session, Ticket.created_at, Ticket.resolved_at)
    resolved = Ticket.resolved_at.is_not(None)
    with_due = Ticket.resolution_due_at.is_not(None)
    fixed = reassigned_tickets()
    rated = ratings_per_ticket()
    rows = session.execute(
        select(
            Ticket.status,
            Ticket.team_code,
            Ticket.origin_channel,
            Ticket.routing,
            func.count(Ticket.id),
            func.count(fixed.c.ticket_id),
            counted(with_due),
            counted(and_(with_due, breached())),
            func.sum(case((resolved, hours), else_=None)),
            counted(resolved),
            func.sum(rated.c.total),
            func.sum(rated.c.n),
        )  # fmt: skip
        .select_from(Ticket)
        .outerjoin(fixed, fixed.c.ticket_id == Ticket.id)
        .outerjoin(rated, rated.c.ticket_id == Ticket.id)
        .where(*where)
        .group_by(Ticket.status, Ticket.team_code, Ticket.origin_channel, Ticket.routing)
    ).all()
    return {**_add_up(rows), "sla_compliance": compliance(session=session, where=where)}


def _add_up(rows: Sequence[Any]) -> dict[str, Any]:
    by: dict[str, Counter[str]] = {k: Counter() for k in ("status", "team", "channel", "routing")}
    totals: Counter[str] = Counter()
    team_hours: dict[str, list[float]] = {}
    rating_total = 0.0
    for status, team, channel, routing, n, fixed, due, late, hours, done, score, rated in rows:
        for key, value in (("status", status), ("team", team), ("channel", channel)):
            by[key][str(value)] += n
        by["routing"][str(routing)] += n
        totals.update(tickets=n, fixed=fixed, due=due, late=late, ratings=int(rated or 0))
        totals.update(auto=n if routing in AUTO_ROUTED else 0)
        rating_total += float(score or 0)
        if done:
            acc = team_hours.setdefault(str(team), [0.0, 0])
            acc[0], acc[1] = acc[0] + float(hours or 0), acc[1] + done
    total, ratings = totals["tickets"], totals["ratings"]
    return dict(
        tickets=total,
        by_status=dict(by["status"]),
        by_team=dict(by["team"]),
        by_channel=dict(by["channel"]),
        by_routing=dict(by["routing"]),
        auto_routed_share=_share(totals["auto"], total),
        reassigned_share=_share(totals["fixed"], total),
        sla_breach_share=_share(totals["late"], totals["due"]),
        average_rating=round(rating_total / ratings, 2) if ratings else None,
        ratings=ratings,
        resolution_hours_by_team={t: round(h / n, 2) for t, (h, n) in team_hours.items()},
    )


def counted(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def reassigned_tickets() -> Any:
    """The ids of tickets reassigned at least once, to outer-join (one row per ticket)."""
    return (
        select(TicketEvent.ticket_id.label("ticket_id"))
        .where(TicketEvent.kind == "reassigned")
        .distinct()
        .subquery("reassigned")
    )


def ratings_per_ticket() -> Any:
    """Each rated ticket's rating total and count, to outer-join (one row per ticket)."""
    return (
        select(
            Feedback.ticket_id.label("ticket_id"),
            func.sum(Feedback.rating).label("total"),
            func.count(Feedback.id).label("n"),
        )
        .group_by(Feedback.ticket_id)
        .subquery("rated")
    )


GROUPS = (
    ("by_team", Ticket.team_code),
    ("by_service", Ticket.service_code),
    ("by_channel", Ticket.origin_channel),
)


def compliance(*, session: Session, where: list[ColumnElement[bool]]) -> dict[str, Any]:
    """Met and breached clocks per team, service and channel, read from the SLA events.

    A clock that ever breached counts as breached (a reopened ticket cannot undo it); one that
    stopped in time and never breached counts as met. Running clocks are not counted yet.
    """
    later = aliased(TicketEvent)
    was_breached = exists().where(
        later.ticket_id == TicketEvent.ticket_id,
        later.kind == "sla_breached",
        later.to_value == TicketEvent.to_value,
    )
    outcome = case((was_breached, "breached"), else_="met")
    out: dict[str, Any] = {"response": {}, "resolution": {}}
    for name, column in GROUPS:
        rows = session.execute(
            select(column, TicketEvent.to_value, outcome, func.count(func.distinct(Ticket.id)))
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(*where, TicketEvent.kind.in_(("sla_met", "sla_breached")))
            .group_by(column, TicketEvent.to_value, outcome)
        )
        for clock in out:
            out[clock][name] = {}
        for key, clock, result, count in rows:
            cell = (
                out.setdefault(clock, {})
                .setdefault(name, {})
                .setdefault(str(key), {"met": 0, "breached": 0})
            )
            cell[result] = count
    for groups in out.values():
        for cells in groups.values():
            for cell in cells.values():
                cell["compliance"] = _share(cell["met"], cell["met"] + cell["breached"])
    return out


def reassigned() -> ColumnElement[bool]:
    return exists().where(TicketEvent.ticket_id == Ticket.id, TicketEvent.kind == "reassigned")


def breached(now: datetime | None = None) -> ColumnElement[bool]:
    finished = func.coalesce(Ticket.resolved_at, Ticket.closed_at)
    running_late = and_(
        Ticket.status.in_(list(OPEN_STATUSES)),
        Ticket.resolution_due_at < (now or utcnow()),
        Ticket.sla_paused_at.is_(None),
    )
    return or_(and_(finished.is_not(None), finished > Ticket.resolution_due_at), running_late)


def _hours(session: Session, start: Any, end: Any) -> Any:
    return hours_between(session.get_bind().dialect.name, start, end)


def hours_between(dialect: str, start: Any, end: Any) -> Any:
    """Hours between two timestamps in the database's own date arithmetic."""
    if dialect == "postgresql":
        return func.extract("epoch", end - start) / 3600.0
    if dialect in ("mysql", "mariadb"):
        return func.timestampdiff(literal_column("SECOND"), start, end) / 3600.0
    return (func.julianday(end) - func.julianday(start)) * 24.0


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
