"""The ticket page shows the SLA clocks; the events endpoint shows the SLA log."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from router.runtime import Runtime
from tests.support.workflow import make_staff, make_ticket


def test_detail_and_events_show_the_clocks(runtime: Runtime) -> None:
    staff = make_staff(runtime)
    with runtime.sessions() as session:
        number = make_ticket(session).number
        session.commit()
    client = TestClient(create_app(runtime))
    detail = client.get(f"/api/v1/tickets/{number}", headers=staff.hr.headers).json()
    clocks = {c["clock"]: c for c in detail["sla"]}
    assert set(clocks) == {"response", "resolution"}
    assert (
        clocks["response"]["state"] == "running" and clocks["response"]["calendar"] == "ru_office"
    )
    assert clocks["response"]["target_seconds"] == 4 * 3600
    assert 0 < clocks["response"]["remaining_seconds"] <= 4 * 3600
    assert detail["response_due_at"] and detail["resolution_due_at"]
    events = client.get(f"/api/v1/tickets/{number}/events", headers=staff.hr.headers).json()
    started = [
        e
        for e in (events if isinstance(events, list) else events["events"])
        if e["kind"] == "sla_started"
    ]
    assert {e["data"]["clock"] for e in started} == {"response", "resolution"}
    assert all("due_at" in e["data"] and "elapsed_seconds" in e["data"] for e in started)
