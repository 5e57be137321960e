"""The workspace's analytics page lists the proactive suggestions for leads; each can be
dismissed or marked done (htmx swaps its card; without JavaScript the form reloads the page)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from models.db import session_scope
from router import suggestions as proactive
from router.runtime import Runtime
from tests.api.test_agent_http import sign_in
from tests.router.analytics_history import seed_suggestions
from tests.support.workflow import Staff, make_staff

CARD = re.compile(r'<article class="suggestion" id="suggestion-(\w+)" data-kind="(\w+)"')


@pytest.fixture
def seeded(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Staff:
    with session_scope(runtime.sessions) as session:
        seed_suggestions(session)
    # The history is from January; the page looks at the 90 days before "now".
    monkeypatch.setattr(
        proactive, "default_since", lambda now=None: datetime(2026, 1, 1, tzinfo=UTC)
    )
    return make_staff(runtime)


def test_leads_see_suggestions_and_dismiss_or_mark_them_done(
    runtime: Runtime, seeded: Staff
) -> None:
    client = TestClient(create_app(runtime), follow_redirects=False)
    csrf = sign_in(client, seeded.lead.token)
    page = client.get("/agent/analytics")
    assert page.status_code == 200
    cards = dict((kind, sid) for sid, kind in CARD.findall(page.text))
    assert set(cards) == {"baseline", "recurring", "new_service"}
    assert "sec_badge" in page.text and "warehouse" in page.text  # service, department
    assert "anna, boris" in page.text or "boris, anna" in page.text  # requesters
    assert "электросамокат" in page.text  # a cluster's example texts
    for label in ("Обращений", "Доля подразделения", "Часы специалистов", "Отклонить"):
        assert label in page.text

    dismissed = client.post(
        f"/agent/analytics/suggestions/{cards['baseline']}/dismiss",
        data={"csrf": csrf},
        headers={"HX-Request": "true"},
    )
    assert dismissed.status_code == 200
    assert 'data-state="dismissed"' in dismissed.text and "Вернуть" in dismissed.text
    done = client.post(
        f"/agent/analytics/suggestions/{cards['recurring']}/done", data={"csrf": csrf}
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/agent/analytics")

    api = client.get(
        "/api/v1/analytics/suggestions",
        params={"since": "2026-01-01T00:00:00Z", "include_closed": "true"},
        headers=seeded.lead.headers,
    ).json()["suggestions"]
    states = {s["id"]: s["state"] for s in api}
    assert states[cards["baseline"]] == "dismissed" and states[cards["recurring"]] == "done"
    left = dict((kind, sid) for sid, kind in CARD.findall(client.get("/agent/analytics").text))
    assert set(left) == {"new_service"}

    reopened = client.post(
        f"/agent/analytics/suggestions/{cards['baseline']}/reopen",
        data={"csrf": csrf},
        headers={"HX-Request": "true"},
    )
    assert 'data-state="open"' in reopened.text
    assert (
        client.post(
            f"/agent/analytics/suggestions/{cards['baseline']}/dismiss", data={"csrf": "forged"}
        ).status_code
        == 403
    )
    assert (
        client.post("/agent/analytics/suggestions/0000/dismiss", data={"csrf": csrf}).status_code
        == 404
    )


def test_specialists_cannot_judge_suggestions(runtime: Runtime, seeded: Staff) -> None:
    client = TestClient(create_app(runtime), follow_redirects=False)
    csrf = sign_in(client, seeded.hr.token)
    sid = proactive.suggestion_id("baseline", "x")
    answer = client.post(f"/agent/analytics/suggestions/{sid}/dismiss", data={"csrf": csrf})
    assert answer.status_code == 403
