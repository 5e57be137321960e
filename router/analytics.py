"""Service statistics: volumes, routing quality, SLA and satisfaction, for the API and the CLI."""

from __future__ import annotations

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
    """The analytics summary over tickets matching `where` (e.g. a creation-time window)."""
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
    return dict(
        tickets=total,
        by_status=_by(session, Ticket.status, where),
        by_team=_by(session, Ticket.team_code, where),
        by_channel=_by(session, Ticket.origin_channel, where),
        by_routing=_by(session, Ticket.routing, where),
        auto_routed_share=_share(_count(session, where, Ticket.routing.in_(AUTO_ROUTED)), total),
        reassigned_share=_share(_count(session, where, reassigned()), total),
        sla_breach_share=_share(
            _count(session, where, Ticket.resolution_due_at.is_not(None), breached()), with_due
        ),
        average_rating=round(float(rating[0]), 2) if rating[0] is not None else None,
        ratings=rating[1],
        resolution_hours_by_team={t: round(float(h), 2) for t, h in per_team if h is not None},
        sla_compliance=compliance(session=session, where=where),
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


def breached() -> ColumnElement[bool]:
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
