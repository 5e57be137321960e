"""SLA clocks in working time: start, re-plan, pause, resume, stop — each step an event.

A clock banks the working time it has run (`elapsed_seconds`) whenever it stops running, so a
pause, a re-plan on another calendar or a restart never loses or double-counts a minute.
The response clock stops at the first public reply to the requester (a comment, a question or
the resolution), not at a claim: the requester has heard nothing until then.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Service, SlaClock, Ticket
from router.lifecycle.calendar import Calendar, add_working, always, working_between
from router.lifecycle.records import add_row, record_event
from router.lifecycle.sla_plan import CLOCKS, Plan, load_calendar, plan_for

RESPONSE, RESOLUTION = CLOCKS


def clocks_of(ticket: Ticket, *, session: Session) -> dict[str, SlaClock]:
    if ticket.id is None:
        return {}
    rows = {
        r.clock: r for r in session.scalars(select(SlaClock).where(SlaClock.ticket_id == ticket.id))
    }
    return {name: rows[name] for name in CLOCKS if name in rows}  # response first, always


def calendar_of(clock: SlaClock, *, session: Session) -> Calendar:
    return load_calendar(clock.calendar, session=session) or always()


def elapsed(clock: SlaClock, now: datetime, *, session: Session) -> timedelta:
    """Working time the clock has run so far (banked plus the current run)."""
    total = timedelta(seconds=clock.elapsed_seconds)
    if clock.running_since is not None:
        total += working_between(calendar_of(clock, session=session), clock.running_since, now)
    return total


def remaining(clock: SlaClock, now: datetime, *, session: Session) -> timedelta:
    """Working time left before the due time (negative once breached)."""
    return timedelta(seconds=clock.target_seconds) - elapsed(clock, now, session=session)


def describe(ticket: Ticket, now: datetime, *, session: Session) -> list[dict[str, Any]]:
    """The clocks as a ticket page shows them: state, due time, working time spent and left."""
    out = []
    for clock in clocks_of(ticket, session=session).values():
        spent = elapsed(clock, now, session=session).total_seconds()
        state = "running" if clock.running_since is not None else "paused"
        if clock.stopped_at is not None:
            state = "met" if clock.met else "breached"
        elif clock.breached_at is not None:
            state = "breached"
        out.append(
            {
                "clock": clock.clock,
                "calendar": clock.calendar,
                "state": state,
                "due_at": clock.due_at,
                "elapsed_seconds": round(spent),
                "remaining_seconds": round(clock.target_seconds - spent),
                "target_seconds": round(clock.target_seconds),
            }
        )
    return out


def plan_ticket(
    ticket: Ticket,
    service: Service | None,
    start: datetime,
    *,
    session: Session,
    now: datetime,
    new: bool = False,
) -> None:
    """Start both clocks at `start` (a new ticket) or re-plan running ones, keeping elapsed time.

    `new`: the ticket was inserted in this transaction and has no clocks yet (none are read)."""
    branch = ticket.requester.branch if ticket.requester_id and ticket.requester else None
    plan = _plan_of(ticket, service, branch, session=session)
    if ticket.id is None:  # the clocks and their events need the ticket's id
        session.add(ticket)
        session.flush()
    existing = {} if new else clocks_of(ticket, session=session)
    for name in CLOCKS:
        clock = existing.get(name)
        if clock is None:
            _start(ticket, name, plan, start, session=session, now=now)
        else:
            _replan(ticket, clock, plan, session=session, now=now)


def _plan_of(
    ticket: Ticket, service: Service | None, branch: str | None, *, session: Session
) -> Plan:
    return plan_for(
        session=session,
        service=service,
        priority=ticket.priority,
        team_code=ticket.team_code,
        branch=branch,
    )


def plan_new(
    ticket: Ticket,
    service: Service | None,
    start: datetime,
    *,
    session: Session,
    now: datetime,
    branch: str | None,
) -> Callable[[], None]:
    """A new ticket's clocks planned before its INSERT, so its due columns are written in it
    (not by an UPDATE after it); what it returns starts them (writes them and their events)
    once the ticket has its id. `branch`: the requester's (the ticket cannot load it yet)."""
    plan = _plan_of(ticket, service, branch, session=session)
    clocks = [_planned(ticket, name, plan, start, now=now) for name in CLOCKS]

    def started() -> None:
        for clock in clocks:
            _record(ticket, clock, now, session=session)

    return started


def _start(
    ticket: Ticket, name: str, plan: Plan, start: datetime, *, session: Session, now: datetime
) -> None:
    _record(ticket, _planned(ticket, name, plan, start, now=now), now, session=session)


def _planned(ticket: Ticket, name: str, plan: Plan, start: datetime, *, now: datetime) -> SlaClock:
    """The clock, its due time mirrored on the ticket; nothing written yet."""
    target = plan.target(name)
    clock = SlaClock(
        clock=name,
        calendar=plan.calendar.code,
        target_seconds=target.total_seconds(),
        elapsed_seconds=0.0,
        cycle=0,
        warned_cycle=-1,
    )
    if ticket.sla_paused_at is None:
        clock.running_since = start
        clock.due_at = add_working(plan.calendar, start, target)
        clock.next_check_at = now  # the sweep plans the warning (the share is a setting)
    else:
        clock.due_at = add_working(plan.calendar, now, target)
    _mirror(ticket, clock)
    return clock


def _record(ticket: Ticket, clock: SlaClock, now: datetime, *, session: Session) -> None:
    clock.ticket_id = ticket.id
    # Inside `rows_in_bulk` (a new ticket's intake) it is written with the events, at the end:
    # nothing there reads a new ticket's clocks back (`plan_ticket(new=True)` reads none).
    add_row(clock, session)
    log_clock_event(
        ticket, "sla_started", clock, now, session=session, target_seconds=clock.target_seconds
    )


def _replan(
    ticket: Ticket, clock: SlaClock, plan: Plan, *, session: Session, now: datetime
) -> None:
    """Another team, service or priority: the same elapsed time on the new calendar and target."""
    target = plan.target(clock.clock).total_seconds()
    if clock.stopped_at is not None:
        return
    if clock.calendar == plan.calendar.code and clock.target_seconds == target:
        return
    _bank(clock, now, session=session)
    clock.calendar, clock.target_seconds = plan.calendar.code, target
    if clock.running_since is not None:
        clock.running_since = now
        _project(clock, plan.calendar, now)
    _mirror(ticket, clock)
    log_clock_event(
        ticket, "sla_started", clock, now, session=session, replanned=True, target_seconds=target
    )


def pause(ticket: Ticket, now: datetime, *, session: Session) -> None:
    """Waiting for the requester: running clocks stop counting and bank their time."""
    for clock in clocks_of(ticket, session=session).values():
        if clock.running_since is None or clock.stopped_at is not None:
            continue
        _bank(clock, now, session=session)
        clock.running_since = None
        clock.next_check_at = None
        log_clock_event(ticket, "sla_paused", clock, now, session=session)


def resume(ticket: Ticket, now: datetime, *, session: Session) -> None:
    """The clock runs again (a new pause cycle); a reopened ticket's resolution clock too."""
    for clock in clocks_of(ticket, session=session).values():
        reopened = clock.clock == RESOLUTION and clock.stopped_at is not None
        if clock.running_since is not None or (clock.stopped_at is not None and not reopened):
            continue
        clock.stopped_at, clock.met = None, None
        clock.cycle += 1
        clock.running_since = now
        _project(clock, calendar_of(clock, session=session), now)
        _mirror(ticket, clock)
        log_clock_event(ticket, "sla_resumed", clock, now, session=session)


def stop(ticket: Ticket, name: str, now: datetime, *, session: Session) -> SlaClock | None:
    """The clock's goal is reached (a public reply; the resolution): met or breached, for good."""
    clock = clocks_of(ticket, session=session).get(name)
    if clock is None or clock.stopped_at is not None:
        return None
    _bank(clock, now, session=session)
    clock.running_since, clock.next_check_at, clock.stopped_at = None, None, now
    clock.met = clock.elapsed_seconds <= clock.target_seconds
    if clock.met:
        log_clock_event(ticket, "sla_met", clock, now, session=session)
    elif clock.breached_at is None:  # late, and stopped before the sweep looked: still logged
        clock.breached_at = now
        log_clock_event(ticket, "sla_breached", clock, now, session=session, at_stop=True)
    return clock


def _bank(clock: SlaClock, now: datetime, *, session: Session) -> None:
    if clock.running_since is None:
        return
    run = working_between(calendar_of(clock, session=session), clock.running_since, now)
    clock.elapsed_seconds += run.total_seconds()
    clock.running_since = now


def _project(clock: SlaClock, calendar: Calendar, now: datetime) -> None:
    """Due time from now with the working time left; the sweep looks at it at once."""
    left = timedelta(seconds=max(0.0, clock.target_seconds - clock.elapsed_seconds))
    clock.due_at = add_working(calendar, now, left)
    clock.next_check_at = now


def _mirror(ticket: Ticket, clock: SlaClock) -> None:
    """The ticket's own due columns (queues sort by them) follow the clocks."""
    if clock.clock == RESPONSE:
        ticket.response_due_at = clock.due_at
    else:
        ticket.resolution_due_at = clock.due_at


def log_clock_event(
    ticket: Ticket, kind: str, clock: SlaClock, now: datetime, *, session: Session, **extra: Any
) -> None:
    data = {
        "clock": clock.clock,
        "due_at": clock.due_at.isoformat() if clock.due_at else None,
        "elapsed_seconds": round(clock.elapsed_seconds),
        "calendar": clock.calendar,
        "cycle": clock.cycle,
        **extra,
    }
    event = record_event(
        ticket, kind, session=session, to_value=clock.clock, actor="sla", data=data
    )
    event.created_at = now
