"""Suggestions from a seeded history: one of each kind, and a verdict that hides it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.db import session_scope
from router.analytics import created_between
from router.runtime import Runtime
from router.suggestions import set_state, suggest
from tests.router.analytics_history import MONDAY, SCOOTER, seed_suggestions

WINDOW = created_between(MONDAY - timedelta(days=1), None)


@pytest.fixture
def seeded(runtime: Runtime) -> Runtime:
    with session_scope(runtime.sessions) as session:
        seed_suggestions(session)
    return runtime


def by_kind(runtime: Runtime) -> dict[str, list[dict[str, object]]]:
    with runtime.sessions() as session:
        found = suggest(session=session, where=list(WINDOW))
    out: dict[str, list[dict[str, object]]] = {}
    for item in found:
        out.setdefault(str(item["kind"]), []).append(item)
    return out


def test_each_kind_is_found(seeded: Runtime) -> None:
    found = by_kind(seeded)
    (baseline,) = found["baseline"]
    assert (baseline["department"], baseline["service"], baseline["requests"]) == (
        "warehouse",
        "sec_badge",
        12,
    )
    assert baseline["share"] == round(12 / 19, 4)  # 12 badges of the warehouse's 19 requests
    assert baseline["requesters"] == ["anna", "boris"] and baseline["requester_count"] == 2
    assert baseline["specialist_hours"] == 18.0  # 12 × 1.5 h
    (recurring,) = found["recurring"]
    assert (recurring["service"], recurring["requester"], recurring["requests"]) == (
        "pay_2ndfl",
        "vera",
        4,
    )
    assert recurring["period_days"] == 30.0 and recurring["department"] == "accounting"
    (candidate,) = found["new_service"]
    assert candidate["team"] == "procurement" and candidate["requests"] == 4
    assert candidate["department"] == "warehouse" and candidate["service"] == "proc_purchase"
    assert set(candidate["examples"]) <= set(SCOOTER) and len(candidate["examples"]) == 3
    assert any("электросамокат" in word for word in candidate["keywords"])


def test_dismissed_and_done_are_hidden_until_reopened(seeded: Runtime) -> None:
    found = by_kind(seeded)
    with session_scope(seeded.sessions) as session:
        set_state(session=session, suggestion=found["baseline"][0], state="dismissed", actor="a")
        set_state(session=session, suggestion=found["recurring"][0], state="done", actor="a")
    assert set(by_kind(seeded)) == {"new_service"}
    with seeded.sessions() as session:
        every = suggest(session=session, where=list(WINDOW), include_closed=True)
    assert sorted(s["state"] for s in every) == ["dismissed", "done", "open"]
    with session_scope(seeded.sessions) as session:
        set_state(session=session, suggestion=found["baseline"][0], state="open", actor="a")
    assert set(by_kind(seeded)) == {"baseline", "new_service"}


def test_nothing_to_suggest_from_an_empty_history(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        assert suggest(session=session, where=[]) == []
