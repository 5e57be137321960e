"""Which calendar and which working-time targets a ticket's SLA clocks run on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models.db import Branch, PriorityPolicy, Service, SlaCalendar, Team, Ticket
from router.lifecycle.calendar import ALWAYS, Calendar, add_working, always, parse_calendar

CLOCKS = ("response", "resolution")
DEFAULT_FACTORS = {"critical": 0.25, "high": 0.5, "normal": 1.0, "low": 2.0}
TRIAGE_RESPONSE_HOURS = 4.0
TRIAGE_RESOLUTION_HOURS = 40.0


@dataclass(frozen=True)
class Plan:
    """A calendar and the two targets in working time (priority factors applied)."""

    calendar: Calendar
    response: timedelta
    resolution: timedelta

    def target(self, clock: str) -> timedelta:
        return self.response if clock == "response" else self.resolution

    def due(self, start: datetime) -> tuple[datetime, datetime]:
        return (
            add_working(self.calendar, start, self.response),
            add_working(self.calendar, start, self.resolution),
        )


def load_calendar(code: str | None, *, session: Session) -> Calendar | None:
    """A catalogue calendar by code (`always` is built in); None when unknown."""
    if code == ALWAYS:
        return always()
    if not code:
        return None
    row = session.scalar(select(SlaCalendar).where(SlaCalendar.code == code))
    return None if row is None else _parsed(code, json.dumps(row.spec, sort_keys=True))


def warm_calendars(*, session: Session) -> int:
    """Parse every catalogue calendar now (holiday tables import per country, ~0.3 s the first
    time): a worker does this before its first job, so no message pays it."""
    codes = list(session.scalars(select(SlaCalendar.code)))
    for code in codes:
        load_calendar(code, session=session)
    return len(codes)


@lru_cache(maxsize=256)
def _parsed(code: str, spec: str) -> Calendar:
    # Keyed by the spec text, so a reloaded catalogue is seen without a restart.
    return parse_calendar(code, json.loads(spec))


def find_branch(name: str | None, *, session: Session) -> Branch | None:
    """A branch by code or by either name (employees' records carry either)."""
    if not name:
        return None
    key = name.strip().lower()
    return session.scalar(
        select(Branch).where(
            or_(
                func.lower(Branch.code) == key,
                func.lower(Branch.name_ru) == key,
                func.lower(Branch.name_en) == key,
            )
        )
    )


def pick_calendar(
    *, session: Session, service: Service | None, team_code: str | None, branch: str | None
) -> Calendar:
    """Service's calendar, else the branch's, else the team's, else the default, else 24x7."""
    branch_row = find_branch(branch, session=session)
    team = session.scalar(select(Team).where(Team.code == team_code)) if team_code else None
    for code in (
        service.calendar if service else None,
        branch_row.calendar if branch_row else None,
        team.calendar if team else None,
    ):
        found = load_calendar(code, session=session)
        if found is not None:
            return found
    default = session.scalar(select(SlaCalendar.code).where(SlaCalendar.is_default.is_(True)))
    return load_calendar(default, session=session) or always()


def factors(priority: str, *, session: Session) -> tuple[float, float]:
    """Response and resolution multipliers of a priority (the catalogue's, else the defaults)."""
    policy = _policies(session).get(priority)
    if policy is None:
        f = DEFAULT_FACTORS.get(priority, 1.0)
        return f, f
    return policy


def _policies(session: Session) -> dict[str, tuple[float, float]]:
    """Every priority's factors, read once per unit of work (a handful of rows; a new ticket
    asks for two priorities, which was two statements)."""
    found: dict[str, tuple[float, float]] | None = session.info.get("okno_priority_factors")
    if found is None:
        rows = session.execute(
            select(
                PriorityPolicy.priority,
                PriorityPolicy.response_factor,
                PriorityPolicy.resolution_factor,
            )
        )
        found = {p: (r, s) for p, r, s in rows}
        session.info["okno_priority_factors"] = found
    return found


def targets(service: Service | None, priority: str, *, session: Session) -> tuple[float, float]:
    """Hours of working time: the catalogue's targets scaled from its default priority."""
    response_h = service.response_hours if service else TRIAGE_RESPONSE_HOURS
    resolution_h = service.resolution_hours if service else TRIAGE_RESOLUTION_HOURS
    rf, sf = factors(priority, session=session)
    df_r, df_s = factors(service.priority if service else "normal", session=session)
    return response_h * rf / df_r, resolution_h * sf / df_s


def plan_for(
    *,
    session: Session,
    service: Service | None,
    priority: str,
    team_code: str | None,
    branch: str | None = None,
) -> Plan:
    calendar = pick_calendar(session=session, service=service, team_code=team_code, branch=branch)
    response_h, resolution_h = targets(service, priority, session=session)
    return Plan(calendar, timedelta(hours=response_h), timedelta(hours=resolution_h))


def requester_timezone(ticket: Ticket, *, session: Session) -> str | None:
    """Where the requester reads our promises: their own zone, else their branch's."""
    person = ticket.requester if ticket.requester_id else None
    if person is None:
        return None
    branch = find_branch(person.branch, session=session)
    return person.timezone or (branch.timezone if branch else None)
