"""Analytics for analysts: the summary's counts and shares, the CSV export, the time window."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from fastapi.testclient import TestClient

from api.app import create_app
from models.types import utcnow
from router.lifecycle import actions
from router.lifecycle.moves import reassign
from router.runtime import Runtime
from tests.support.workflow import make_staff, make_ticket


def test_summary_and_export(runtime: Runtime) -> None:
    staff = make_staff(runtime)
    with runtime.sessions() as session:
        good = make_ticket(session, predicted="hr_certificate").number or ""
        misrouted = make_ticket(session, predicted="hr_certificate").number or ""
        late = make_ticket(
            session, service="pay_2ndfl", due_in=timedelta(hours=-1), channel="email"
        )
        make_ticket(session, service=None)
        session.commit()
        actions.resolve(session=session, ticket_number=good, user_id=staff.hr.id, resolution="ok")
        actions.record_feedback(
            session=session, ticket_number=good, rating=4, comment=None, channel="webform"
        )
        reassign(
            session=session,
            ticket_number=misrouted,
            user_id=staff.hr.id,
            service_code="pay_2ndfl",
            reason="2-НДФЛ",
        )
        session.commit()
    client = TestClient(create_app(runtime))
    resp = client.get("/api/v1/analytics/summary", headers=staff.analyst.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["tickets"] == 4
    assert body["by_team"] == {"hr": 1, "payroll": 2, "triage": 1}
    assert body["by_channel"] == {"webform": 3, "email": 1}
    assert body["by_status"] == {"new": 3, "resolved": 1}
    assert body["auto_routed_share"] == 0.5 and body["reassigned_share"] == 0.25
    assert body["sla_breach_share"] == 0.25
    assert (body["average_rating"], body["ratings"]) == (4.0, 1)
    assert set(body["resolution_hours_by_team"]) == {"hr"}
    assert 0 <= body["resolution_hours_by_team"]["hr"] < 0.1

    export = client.get("/api/v1/analytics/export", headers=staff.analyst.headers)
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    by_number = {r["number"]: r for r in rows}
    assert len(rows) == 4 and by_number[misrouted]["reassigned"] == "1"
    assert (by_number[misrouted]["service"], by_number[misrouted]["predicted_service"]) == (
        "pay_2ndfl",
        "hr_certificate",
    )
    assert by_number[late.number or ""]["breached"] == "1" and by_number[good]["rating"] == "4"

    future = (utcnow() + timedelta(days=1)).isoformat()
    empty = client.get(
        "/api/v1/analytics/summary", params={"since": future}, headers=staff.analyst.headers
    ).json()
    assert empty["tickets"] == 0 and empty["auto_routed_share"] is None
    odd = client.get(
        "/api/v1/analytics/summary",
        params={"until": "0001-01-01T00:00:00+05:00"},
        headers=staff.analyst.headers,
    )
    assert odd.status_code == 422
