"""Which calendar and which working-time targets a ticket's SLA clocks run on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models.db import Branch, PriorityPolicy, Service, SlaCalendar, Team, Ticket
from router import catalog_cache
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
    return catalog_cache.cached(f"calendar:{code}", lambda: _load_calendar(code, session))


def _load_calendar(code: str, session: Session) -> Calendar | None:
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
    branch_row = branch_info(branch, session=session)
    team = team_info(team_code, session=session)
    for code in (
        service.calendar if service else None,
        branch_row.calendar if branch_row else None,
        team.calendar if team else None,
    ):
        found = load_calendar(code, session=session)
        if found is not None:
            return found
    default = catalog_cache.cached(
        "calendar-default",
        lambda: session.scalar(select(SlaCalendar.code).where(SlaCalendar.is_default.is_(True))),
    )
    return load_calendar(default, session=session) or always()


@dataclass(frozen=True)
class TeamInfo:
    """What a new ticket reads of its team (a snapshot, cached per process)."""

    code: str
    name_ru: str
    name_en: str
    calendar: str | None


@dataclass(frozen=True)
class BranchInfo:
    code: str
    calendar: str | None
    timezone: str | None


def team_info(code: str | None, *, session: Session) -> TeamInfo | None:
    if not code:
        return None
    return _teams(session).get(code)


def _teams(session: Session) -> dict[str, TeamInfo]:
    def load() -> dict[str, TeamInfo]:
        rows = session.execute(select(Team.code, Team.name_ru, Team.name_en, Team.calendar))
        return {c: TeamInfo(c, ru, en, cal) for c, ru, en, cal in rows}

    return catalog_cache.cached("teams", load)


def branch_info(name: str | None, *, session: Session) -> BranchInfo | None:
    """`find_branch` as a cached snapshot (by code or either name, case-insensitive)."""
    if not name:
        return None
    key = name.strip().lower()

    def load() -> BranchInfo | None:
        row = find_branch(name, session=session)
        return None if row is None else BranchInfo(row.code, row.calendar, row.timezone)

    return catalog_cache.cached(f"branch:{key}", load)


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

    def load() -> dict[str, tuple[float, float]]:
        rows = session.execute(
            select(
                PriorityPolicy.priority,
                PriorityPolicy.response_factor,
                PriorityPolicy.resolution_factor,
            )
        )
        return {p: (r, s) for p, r, s in rows}

    return catalog_cache.cached("priority-factors", load)


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
    if person.timezone:
        return person.timezone
    branch = branch_info(person.branch, session=session)
    return branch.timezone if branch else None
