"""Service statistics: volumes, routing quality, SLA and satisfaction, for the API and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, literal_column, or_, select
from sqlalchemy.orm import Session

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
    )


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


def _count(session: Session, where: list[ColumnElement[bool]], *extra: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count(Ticket.id)).where(*where, *extra)) or 0


def _by(session: Session, column: Any, where: list[ColumnElement[bool]]) -> dict[str, int]:
    rows = session.execute(select(column, func.count(Ticket.id)).where(*where).group_by(column))
    return {str(key): count for key, count in rows}
