"""Sliced analytics over a seeded history: each dimension, percentiles, SLA, misroutes, drift."""

from __future__ import annotations

import pytest

from models.db import session_scope
from router.analytics_slices import UnknownDimension, parse_group_by, slices
from router.runtime import Runtime
from tests.router.analytics_history import seed_slices


@pytest.fixture
def seeded(runtime: Runtime) -> Runtime:
    with session_scope(runtime.sessions) as session:
        seed_slices(session)
    return runtime


def sliced(runtime: Runtime, *group_by: str) -> dict[tuple[object, ...], dict[str, object]]:
    with runtime.sessions() as session:
        rows = slices(session=session, where=[], group_by=list(group_by))
    return {tuple(r[d] for d in group_by): r for r in rows}


def test_by_team_times_sla_misroutes_and_rating(seeded: Runtime) -> None:
    by_team = sliced(seeded, "team")
    assert list(by_team) == [("hr",), ("security",), ("triage",)]
    hr, security, triage = by_team.values()
    assert hr == {
        "team": "hr",
        "tickets": 5,
        "first_response_p50_hours": 0.5,
        "first_response_p90_hours": 0.5,
        "resolution_p50_hours": 3.0,
        "resolution_p90_hours": 10.0,
        "response_sla_compliance": 1.0,
        "resolution_sla_compliance": 0.8,
        "reassigned_share": 0.0,
        "average_rating": 4.5,
        "ratings": 2,
        "classifier_coverage": 1.0,
        "classifier_precision": 1.0,
    }
    assert (security["resolution_p50_hours"], security["resolution_p90_hours"]) == (2.0, 6.0)
    assert security["response_sla_compliance"] == 0.75  # one never answered, past due
    assert security["resolution_sla_compliance"] == 0.5
    assert security["reassigned_share"] == 0.25 and security["classifier_precision"] == 0.75
    assert security["average_rating"] is None and security["ratings"] == 0
    assert triage["tickets"] == 1 and triage["resolution_p50_hours"] is None
    assert triage["resolution_sla_compliance"] is None and triage["classifier_coverage"] == 0.0


def test_by_department_branch_channel_service(seeded: Runtime) -> None:
    department = {k: r["tickets"] for k, r in sliced(seeded, "department").items()}
    assert department == {("accounting",): 5, ("warehouse",): 4, (None,): 1}
    assert list(department)[-1] == (None,)  # tickets without a known requester come last
    branch = {k: r["tickets"] for k, r in sliced(seeded, "branch").items()}
    assert branch == {("Kazan",): 4, ("Moscow",): 5, (None,): 1}
    channel = {k: r["tickets"] for k, r in sliced(seeded, "channel").items()}
    assert channel == {("email",): 4, ("webform",): 6}
    service = sliced(seeded, "service")
    assert service[("sec_badge",)]["resolution_p90_hours"] == 6.0
    assert service[(None,)]["tickets"] == 1


def test_weekly_drift_and_two_dimensions(seeded: Runtime) -> None:
    weeks = sliced(seeded, "week")
    assert list(weeks) == [("2026-01-05",), ("2026-01-12",)]
    first, second = weeks.values()
    assert (first["classifier_coverage"], first["classifier_precision"]) == (1.0, 1.0)
    assert (second["classifier_coverage"], second["classifier_precision"]) == (0.8, 0.75)
    both = sliced(seeded, "week", "department")
    assert both[("2026-01-12", "warehouse")]["tickets"] == 4
    assert both[("2026-01-12", None)]["tickets"] == 1
    (overall,) = sliced(seeded).values()
    assert overall["tickets"] == 10 and overall["resolution_p50_hours"] == 3.0


def test_group_by_names_are_checked() -> None:
    assert parse_group_by(" week, team ,week") == ["week", "team"]
    assert parse_group_by(None) == []
    with pytest.raises(UnknownDimension, match="colour"):
        parse_group_by("colour")
