"""Warnings and breaches: each fires once per clock and pause cycle, however many sweepers run.

The firing is a conditional UPDATE (`... WHERE warned_cycle < cycle`, `... WHERE breached_at IS
NULL`) in the same transaction as its event and its mail: a second worker, or the same one after
a restart, finds the row already marked and fires nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.db import NotificationRow, Service, SlaClock, Team, Ticket, User, UserTeam
from models.types import NotificationKind
from router.lifecycle.calendar import add_working
from router.lifecycle.sla_clocks import calendar_of, elapsed, log_clock_event
from router.tickets import add_event

PRIORITY_UP = {"low": "normal", "normal": "high", "high": "critical"}
BATCH = 500


@dataclass
class Tick:
    checked: int = 0
    warnings: int = 0
    breaches: int = 0
    notifications: list[int] = field(default_factory=list)


def check_due(*, session: Session, now: datetime, share: float, limit: int = BATCH) -> Tick:
    """One sweep step: the clocks whose next check has come, by the index, oldest first."""
    rows = session.scalars(
        select(SlaClock)
        .where(SlaClock.next_check_at <= now)
        .order_by(SlaClock.next_check_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    tick = Tick(checked=len(rows))
    for clock in rows:
        _check(clock, now, share, session=session, tick=tick)
    session.flush()
    return tick


def _check(clock: SlaClock, now: datetime, share: float, *, session: Session, tick: Tick) -> None:
    if clock.running_since is None or clock.stopped_at is not None:
        clock.next_check_at = None
        return
    spent = elapsed(clock, now, session=session)
    target = timedelta(seconds=clock.target_seconds)
    ticket = session.get(Ticket, clock.ticket_id)
    assert ticket is not None
    if spent >= target:
        if _mark(clock, SlaClock.breached_at.is_(None), breached_at=now, session=session):
            breach(ticket, clock, now, spent, session=session, tick=tick)
        clock.next_check_at = None
        return
    warn_point = target * share
    if spent >= warn_point and clock.warned_cycle < clock.cycle and clock.breached_at is None:
        condition = SlaClock.warned_cycle < clock.cycle
        if _mark(clock, condition, warned_cycle=clock.cycle, session=session):
            _warn(ticket, clock, now, spent, session=session, tick=tick)
    left = (warn_point if clock.warned_cycle < clock.cycle else target) - spent
    clock.next_check_at = add_working(calendar_of(clock, session=session), now, left)


def _mark(clock: SlaClock, condition: object, *, session: Session, **values: object) -> bool:
    """Set `values` only if `condition` still holds in the database; True when we did."""
    result = session.execute(
        update(SlaClock)
        .where(SlaClock.id == clock.id, condition)  # type: ignore[arg-type]
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(clock)
        return False
    for name, value in values.items():
        setattr(clock, name, value)
    return True


def _warn(
    ticket: Ticket,
    clock: SlaClock,
    now: datetime,
    spent: timedelta,
    *,
    session: Session,
    tick: Tick,
) -> None:
    log_clock_event(
        ticket,
        "sla_warning",
        clock,
        now,
        session=session,
        elapsed_seconds=round(spent.total_seconds()),
    )
    tick.warnings += 1
    recipients = _team_addresses(ticket, session=session) + _lead_addresses(ticket, session=session)
    _mail(ticket, clock, NotificationKind.sla_warning, recipients, session=session, tick=tick)


def breach(
    ticket: Ticket,
    clock: SlaClock,
    now: datetime,
    spent: timedelta,
    *,
    session: Session,
    tick: Tick,
) -> None:
    """Log it, tell the team's leads (the team's address when it has none), maybe raise priority."""
    log_clock_event(
        ticket,
        "sla_breached",
        clock,
        now,
        session=session,
        elapsed_seconds=round(spent.total_seconds()),
    )
    tick.breaches += 1
    leads = _lead_addresses(ticket, session=session) or _team_addresses(ticket, session=session)
    _mail(ticket, clock, NotificationKind.sla_breached, leads, session=session, tick=tick)
    service = session.scalar(select(Service).where(Service.code == ticket.service_code))
    higher = PRIORITY_UP.get(ticket.priority)
    if service is not None and service.raise_priority_on_breach and higher:
        add_event(
            ticket,
            "priority",
            session=session,
            from_value=ticket.priority,
            to_value=higher,
            actor="sla",
            data={"reason": f"{clock.clock} SLA breached"},
        )
        ticket.priority = higher


def _team_addresses(ticket: Ticket, *, session: Session) -> list[str]:
    team = session.scalar(select(Team).where(Team.code == ticket.team_code))
    return [team.email] if team is not None and team.email else []


def _lead_addresses(ticket: Ticket, *, session: Session) -> list[str]:
    rows = session.scalars(
        select(User.email)
        .join(UserTeam, UserTeam.user_id == User.id)
        .where(UserTeam.team_code == ticket.team_code, User.role == "lead", User.active.is_(True))
        .order_by(User.id)
    )
    return list(rows)


def _mail(
    ticket: Ticket,
    clock: SlaClock,
    kind: NotificationKind,
    recipients: list[str],
    *,
    session: Session,
    tick: Tick,
) -> None:
    """An internal e-mail to the team (never to the requester), sent by the notify job."""
    text = _text(ticket, clock, kind)
    rows = []
    for address in dict.fromkeys(recipients):
        row = NotificationRow(
            ticket_id=ticket.id,
            kind=kind.value,
            channel="email",
            recipient=address,
            language="ru",
            subject=text.splitlines()[0],
            text=text,
            threading={"auto_submitted": "auto-generated", "ticket": ticket.number},
            extra={"internal": True, "clock": clock.clock},
        )
        session.add(row)
        rows.append(row)
    session.flush()
    tick.notifications += [row.id for row in rows]


def _text(ticket: Ticket, clock: SlaClock, kind: NotificationKind) -> str:
    due = clock.due_at.isoformat(timespec="minutes") if clock.due_at else "—"
    what = {"response": ("ответа", "response"), "resolution": ("решения", "resolution")}
    ru, en = what.get(clock.clock, (clock.clock, clock.clock))
    if kind == NotificationKind.sla_warning:
        return (
            f"{ticket.number}: срок {ru} скоро истечёт ({due}) / {en} due soon\n\n"
            f"{ticket.subject}\nОчередь/team: {ticket.team_code}, приоритет/priority: "
            f"{ticket.priority}\nСрок/due: {due}"
        )
    return (
        f"{ticket.number}: срок {ru} нарушен ({due}) / {en} SLA breached\n\n"
        f"{ticket.subject}\nОчередь/team: {ticket.team_code}, приоритет/priority: "
        f"{ticket.priority}\nСрок/due: {due}"
    )
