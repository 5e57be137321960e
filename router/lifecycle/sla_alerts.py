"""Warnings and breaches: each fires once per clock and pause cycle, however many sweepers run.

The firing is a conditional UPDATE (`... WHERE warned_cycle < cycle`, `... WHERE breached_at IS
NULL`) in the same transaction as its event and its mail: a second worker, or the same one after
a restart, finds the row already marked and fires nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.db import NotificationRow, Service, SlaClock, Team, Ticket, User, UserTeam
from models.types import NotificationKind
from router.lifecycle.calendar import add_working
from router.lifecycle.records import record_event
from router.lifecycle.sla_clocks import calendar_of, elapsed, log_clock_event

PRIORITY_UP = {"low": "normal", "normal": "high", "high": "critical"}
BATCH = 500


@dataclass
class Tick:
    checked: int = 0
    warnings: int = 0
    breaches: int = 0
    notifications: list[int] = field(default_factory=list)
    mails: list[NotificationRow] = field(default_factory=list)
    # Per team, within one tick: the addresses, so a batch asks once per team, not per clock.
    teams: dict[str, list[str]] = field(default_factory=dict)
    leads: dict[str, list[str]] = field(default_factory=dict)


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
    ids = [clock.ticket_id for clock in rows]
    tickets = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_(ids)))}
    spent = {clock.id: elapsed(clock, now, session=session) for clock in rows}
    late, near = _due_alerts(rows, spent, share)
    # One conditional UPDATE per kind for the whole batch: only rows still unmarked come back.
    breached = _claim(session, late, SlaClock.breached_at.is_(None), breached_at=now)
    warned = _claim(
        session, near, SlaClock.warned_cycle < SlaClock.cycle, warned_cycle=SlaClock.cycle
    )
    for clock in rows:
        ticket = tickets[clock.ticket_id]
        if clock.id in breached:
            clock.breached_at = now
            breach(ticket, clock, now, spent[clock.id], session=session, tick=tick)
        elif clock.id in warned:
            clock.warned_cycle = clock.cycle
            _warn(ticket, clock, now, spent[clock.id], session=session, tick=tick)
        _plan_next(clock, now, share, spent[clock.id], session=session)
    session.flush()  # one flush: events and mails go in as batched inserts
    tick.notifications = [row.id for row in tick.mails]
    return tick


def _due_alerts(
    rows: list[SlaClock] | Any, spent: dict[int, timedelta], share: float
) -> tuple[list[int], list[int]]:
    late, near = [], []
    for clock in rows:
        if clock.running_since is None or clock.stopped_at is not None:
            continue
        target = timedelta(seconds=clock.target_seconds)
        if spent[clock.id] >= target:
            late.append(clock.id)
        elif spent[clock.id] >= target * share and _may_warn(clock):
            near.append(clock.id)
    return late, near


def _may_warn(clock: SlaClock) -> bool:
    return clock.warned_cycle < clock.cycle and clock.breached_at is None


def _claim(session: Session, ids: list[int], condition: Any, **values: Any) -> set[int]:
    """Mark the rows where `condition` still holds in the database; the ids we marked.

    On the connection, not the session: no autoflush, and the in-memory rows stay as read."""
    if not ids:
        return set()
    result = session.connection().execute(
        update(SlaClock)
        .where(SlaClock.id.in_(ids), condition)
        .values(**values)
        .returning(SlaClock.id)
    )
    return set(result.scalars())


def _plan_next(
    clock: SlaClock, now: datetime, share: float, spent: timedelta, *, session: Session
) -> None:
    """The next moment worth a look: the warning mark, else the due time, else never."""
    target = timedelta(seconds=clock.target_seconds)
    if clock.running_since is None or clock.stopped_at is not None or spent >= target:
        clock.next_check_at = None
        return
    mark = target * share if clock.warned_cycle < clock.cycle else target
    clock.next_check_at = add_working(calendar_of(clock, session=session), now, mark - spent)


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
    recipients = _team_addresses(ticket, session, tick) + _lead_addresses(ticket, session, tick)
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
    leads = _lead_addresses(ticket, session, tick) or _team_addresses(ticket, session, tick)
    _mail(ticket, clock, NotificationKind.sla_breached, leads, session=session, tick=tick)
    service = session.scalar(select(Service).where(Service.code == ticket.service_code))
    higher = PRIORITY_UP.get(ticket.priority)
    if service is not None and service.raise_priority_on_breach and higher:
        record_event(
            ticket,
            "priority",
            session=session,
            from_value=ticket.priority,
            to_value=higher,
            actor="sla",
            data={"reason": f"{clock.clock} SLA breached"},
        )
        ticket.priority = higher


def _team_addresses(ticket: Ticket, session: Session, tick: Tick) -> list[str]:
    code = ticket.team_code
    if code not in tick.teams:
        email = session.scalar(select(Team.email).where(Team.code == code))
        tick.teams[code] = [email] if email else []
    return tick.teams[code]


def _lead_addresses(ticket: Ticket, session: Session, tick: Tick) -> list[str]:
    code = ticket.team_code
    if code not in tick.leads:
        rows = session.scalars(
            select(User.email)
            .join(UserTeam, UserTeam.user_id == User.id)
            .where(UserTeam.team_code == code, User.role == "lead", User.active.is_(True))
            .order_by(User.id)
        )
        tick.leads[code] = list(rows)
    return tick.leads[code]


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
        tick.mails.append(row)


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
