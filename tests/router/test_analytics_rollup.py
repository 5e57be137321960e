"""The daily rollup answers as the direct scan does: before it is built, built, after old
tickets change (their days dirty), and rebuilt; for every slice, the summary and partial days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from models.db import AnalyticsDay, AnalyticsDirty, Employee, Feedback, Ticket, session_scope
from router import analytics, analytics_slices
from router import analytics_rollup as rollup
from router.lifecycle.records import record_event
from router.runtime import Runtime
from tests.router.analytics_history import MONDAY, add, employee, seed_slices

GROUP_BYS = [
    [],
    ["channel"],
    ["service"],
    ["team"],
    ["department"],
    ["branch"],
    ["week"],
    ["week", "team"],
    ["branch", "department"],
    ["week", "department", "branch"],
    ["service", "department"],  # not kept per day: the direct scan
]


def seed(session: Any) -> None:
    """The slices' history, plus SLA events, and tickets over several weeks and hours."""
    seed_slices(session)
    olga = employee(session, "olga", "legal", "Perm")
    for i in range(30):
        t = add(
            session, service="it_hardware", team="it_desk", requester=olga, day=14 + i * 0.37,
            channel=("email", "telegram", "phone")[i % 3], response_h=0.2 + i * 0.13,
            resolve_h=None if i % 7 == 0 else 1 + i * 1.7, response_due_h=2,
            resolution_due_h=24, predicted="it_hardware" if i % 4 else "it_access",
            rating=1 + i % 5 if i % 3 == 0 else None,
        )  # fmt: skip
        for clock, late in (("response", i % 5 == 0), ("resolution", i % 6 == 0)):
            record_event(t, "sla_breached" if late else "sla_met", to_value=clock, session=session)
            if late and i % 2:
                record_event(t, "sla_met", to_value=clock, session=session)


@pytest.fixture
def seeded(runtime: Runtime) -> Runtime:
    with session_scope(runtime.sessions) as session:
        seed(session)
    return runtime


def close(direct: dict[str, Any], rolled: dict[str, Any]) -> None:
    """Equal, but for percentiles read from the rollup: within its bucket error."""
    assert direct.keys() == rolled.keys()
    for name, exact in direct.items():
        got = rolled[name]
        if name.endswith("_hours") and exact is not None and got is not None:
            if exact < rollup.MINUTE:
                assert got == 0.0, name
            else:
                assert abs(got - exact) <= exact * rollup.BUCKET_ERROR + 0.01, (name, exact, got)
        else:
            assert got == exact, (name, direct, rolled)


def compare(runtime: Runtime, since: datetime | None = None, until: datetime | None = None) -> None:
    with runtime.sessions() as session:
        where = analytics.created_between(since, until)
        for group_by in GROUP_BYS:
            direct = analytics_slices.slices(session=session, where=where, group_by=group_by)
            rolled = rollup.slices(session=session, since=since, until=until, group_by=group_by)
            assert len(direct) == len(rolled), group_by
            for d, r in zip(direct, rolled, strict=True):
                close(d, r)
            summary = rollup.summarize(session=session, since=since, until=until, group_by=group_by)
            if group_by:
                assert summary.pop("groups") == rolled and summary.pop("group_by") == group_by
            assert summary == analytics.summarize(session=session, where=where)


def clean_days(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return len(rollup._window(session, None, None).clean)


def test_rollup_agrees_before_built_after_changes_and_rebuilt(seeded: Runtime) -> None:
    compare(seeded)  # nothing built: all live, percentiles exact
    assert rollup.refresh(seeded.sessions) > 40
    with seeded.sessions() as session:
        assert rollup.days_to_build(session) == []
        assert session.scalar(select(func.count(AnalyticsDirty.id))) == 0
    assert clean_days(seeded) > 40
    compare(seeded)
    compare(seeded, since=MONDAY + timedelta(hours=30), until=MONDAY + timedelta(days=20.5))
    before = clean_days(seeded)

    with session_scope(seeded.sessions) as session:  # old tickets change
        first, second, third = session.scalars(select(Ticket).order_by(Ticket.id).limit(3))
        first.team_code = "security"
        record_event(first, "reassigned", from_value="hr", to_value="security", session=session)
        session.add(Feedback(ticket_id=second.id, rating=1, channel="email"))
        third.resolved_at, third.status = None, "in_progress"
        record_event(third, "sla_breached", to_value="resolution", session=session)
        vera = session.scalar(select(Employee).where(Employee.name == "olga"))
        assert vera is not None
        vera.department = "compliance"
    with seeded.sessions() as session:
        dirty = set(session.scalars(select(AnalyticsDirty.day)))
    assert MONDAY.date() in dirty and len(dirty) >= 4
    assert clean_days(seeded) == before - len(dirty)
    compare(seeded)  # the changed days live, the rest from the rollup
    assert rollup.refresh(seeded.sessions) == len(dirty)
    assert clean_days(seeded) == before
    compare(seeded)
    compare(seeded, since=MONDAY + timedelta(days=3, hours=5), until=MONDAY + timedelta(days=9))


def test_an_open_ticket_whose_deadline_is_ahead_makes_its_day_stale(runtime: Runtime) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    yesterday = (now - timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    with session_scope(runtime.sessions) as session:
        add(
            session, service="it_hardware", team="it_desk",
            day=(yesterday - MONDAY).total_seconds() / 86400, response_due_h=5 * 24,
            resolution_due_h=6 * 24,
        )  # fmt: skip
        old = (yesterday - MONDAY).total_seconds() / 86400 - 2
        add(session, service="it_hardware", team="it_desk", day=old, resolve_h=2)
    built = rollup.refresh(runtime.sessions, now=datetime.now(UTC) + timedelta(hours=1))
    assert built >= 2
    with runtime.sessions() as session:
        day = session.get(AnalyticsDay, yesterday.date())
        assert day is not None and day.stale_at is not None
        assert day.stale_at.replace(tzinfo=None) == yesterday + timedelta(days=5)
        later = datetime.now(UTC) + timedelta(days=7)
        assert yesterday.date() in rollup.days_to_build(session, later)
    compare(runtime)


def test_buckets_hold_the_documented_error() -> None:
    for hours in (0.02, 0.5, 1, 3, 10, 47.9, 300, 5000):
        middle = rollup.REPRESENTATIVE[rollup.bucket(hours)]
        assert abs(middle - hours) <= hours * rollup.BUCKET_ERROR
    assert rollup.REPRESENTATIVE[rollup.bucket(0.001)] == 0.0
    assert round(rollup.BUCKET_ERROR, 4) == 0.0219
