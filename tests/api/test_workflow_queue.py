"""The queue: my teams' open tickets by due time, filters, text search, cursor pagination."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from router.lifecycle import actions
from router.runtime import Runtime
from tests.support.workflow import Staff, make_staff, make_ticket


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


@pytest.fixture
def board(runtime: Runtime, staff: Staff) -> dict[str, str]:
    """hr tickets due at different times (one overdue, one closed), and a payroll one."""
    made: dict[str, str] = {}
    with runtime.sessions() as session:
        specs: list[tuple[str, dict[str, Any]]] = [
            ("later", {"due_in": timedelta(hours=30)}),
            ("overdue", {"due_in": timedelta(hours=-2), "subject": "Отпуск в августе"}),
            ("soon", {"due_in": timedelta(hours=3), "channel": "email", "service": "hr_vacation"}),
            ("done", {"due_in": timedelta(hours=1)}),
            ("payroll", {"due_in": timedelta(hours=-5), "service": "pay_2ndfl"}),
            (
                "search",
                {"due_in": timedelta(hours=50), "text": "Прошу ВЫДАТЬ копию трудовой книжки"},
            ),
        ]
        for name, kwargs in specs:
            made[name] = make_ticket(session, **kwargs).number or ""
        session.commit()
        actions.close(session=session, ticket_number=made["done"], user_id=staff.hr.id)
        actions.claim(session=session, ticket_number=made["soon"], user_id=staff.hr.id)
        session.commit()
    return made


def numbers(client: TestClient, staff: Staff, who: str = "hr", **params: Any) -> list[str]:
    resp = client.get("/api/v1/queue", params=params, headers=staff.people[who].headers)
    assert resp.status_code == 200, resp.text
    return [t["number"] for t in resp.json()["items"]]


def test_my_teams_open_tickets_by_due_time(
    client: TestClient, staff: Staff, board: dict[str, str]
) -> None:
    assert numbers(client, staff) == [
        board["overdue"],
        board["soon"],
        board["later"],
        board["search"],
    ]
    first = client.get("/api/v1/queue", headers=staff.hr.headers).json()["items"][0]
    assert first["overdue"] is True and first["sla_paused"] is False
    assert numbers(client, staff, "payroll") == [board["payroll"]]
    everything = numbers(client, staff, "analyst")
    assert everything[0] == board["payroll"] and board["done"] not in everything


def test_filters(client: TestClient, staff: Staff, board: dict[str, str]) -> None:
    assert numbers(client, staff, overdue=True) == [board["overdue"]]
    assert board["overdue"] not in numbers(client, staff, overdue=False)
    assert numbers(client, staff, status="assigned") == [board["soon"]]
    assert numbers(client, staff, status=["assigned", "new"])[:2] == [
        board["overdue"],
        board["soon"],
    ]
    assert numbers(client, staff, mine=True) == [board["soon"]]
    assert board["soon"] not in numbers(client, staff, unassigned=True)
    assert numbers(client, staff, channel="email") == [board["soon"]]
    assert numbers(client, staff, service="hr_vacation") == [board["soon"]]
    assert numbers(client, staff, priority="critical") == []
    assert numbers(client, staff, team="hr", q="август") == [board["overdue"]]
    assert numbers(client, staff, q="выдать") == [board["search"]]  # stored as ВЫДАТЬ
    assert numbers(client, staff, q="трудовой") == [board["search"]]
    assert numbers(client, staff, q=board["later"].lower()) == [board["later"]]
    assert numbers(client, staff, q="100%") == []


def test_cursor_pagination_walks_the_whole_queue(
    client: TestClient, staff: Staff, board: dict[str, str]
) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/queue", params=params, headers=staff.hr.headers).json()
        seen += [t["number"] for t in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == numbers(client, staff) and pages == 4


@pytest.mark.parametrize(
    "cursor", ["garbage", "WzEsMl0", "bnVsbA", "W251bGwsLTFd", "WyIyMDI2IiwxXQ"]
)
def test_bad_cursor_is_400(client: TestClient, staff: Staff, cursor: str) -> None:
    resp = client.get("/api/v1/queue", params={"cursor": cursor}, headers=staff.hr.headers)
    assert resp.status_code == 400 and resp.json()["error"] == "bad_cursor"


def test_bad_filters_are_422(client: TestClient, staff: Staff) -> None:
    for params in ({"status": "closed"}, {"priority": "urgent"}, {"limit": 0}, {"channel": "fax"}):
        resp = client.get("/api/v1/queue", params=params, headers=staff.hr.headers)
        assert resp.status_code == 422 and resp.json()["error"] == "invalid", params
