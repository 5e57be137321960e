"""Knowledge base and canned answers (API and workspace), and the analytics charts page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from router.runtime import Runtime
from tests.api.test_agent_http import CSRF, hr_ticket, sign_in
from tests.support.workflow import Staff, make_staff

ARTICLE = {
    "service": "hr_certificate",
    "language": "ru",
    "title": "Справка с места работы",
    "body": "Справку **готовим за 1 день**. <script>alert(1)</script> [x](javascript:alert(1))",
    "public": True,
}


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime), follow_redirects=False)


def test_leads_manage_articles_and_the_portal_sees_only_public_ones(
    client: TestClient, staff: Staff
) -> None:
    assert (
        client.post("/api/v1/knowledge", json=ARTICLE, headers=staff.hr.headers).status_code == 403
    )
    other_team = {**ARTICLE, "service": "pay_salary_question"}
    refused = client.post("/api/v1/knowledge", json=other_team, headers=staff.lead.headers)
    assert refused.status_code == 403
    made = client.post("/api/v1/knowledge", json=ARTICLE, headers=staff.lead.headers)
    assert made.status_code == 201
    canned = {**ARTICLE, "title": "Шаблон: справка готова", "public": False}
    assert client.post("/api/v1/knowledge", json=canned, headers=staff.lead.headers).is_success
    public = client.get("/api/v1/services/hr_certificate/articles").json()
    assert [a["title"] for a in public] == ["Справка с места работы"]
    mine = client.get("/api/v1/knowledge?service=hr_certificate", headers=staff.hr.headers).json()
    assert len(mine) == 2
    assert client.get("/api/v1/knowledge", headers=staff.payroll.headers).json() == []
    article_id = made.json()["id"]
    changed = {**ARTICLE, "title": "Справка: сроки"}
    put = client.put(f"/api/v1/knowledge/{article_id}", json=changed, headers=staff.lead.headers)
    assert put.json()["title"] == "Справка: сроки"
    gone = client.delete(f"/api/v1/knowledge/{article_id}", headers=staff.payroll.headers)
    assert gone.status_code == 404
    assert (
        client.delete(f"/api/v1/knowledge/{article_id}", headers=staff.lead.headers).status_code
        == 204
    )


def test_the_workspace_offers_articles_renders_markdown_safely_and_inserts_one(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    csrf = sign_in(client, staff.lead.token)
    made = client.post("/agent/knowledge", data={**ARTICLE, "public": "true", "csrf": csrf})
    assert made.status_code == 303
    forged = client.post("/agent/knowledge", data={**ARTICLE, "csrf": "forged"})
    assert forged.status_code == 403
    page = client.get("/agent/knowledge").text
    assert "<strong>готовим за 1 день</strong>" in page
    assert "<script>alert(1)</script>" not in page and 'href="javascript:' not in page
    number = hr_ticket(runtime)
    ticket = client.get(f"/agent/tickets/{number}").text
    article_id = ticket.split("?insert=")[1].split("#")[0]
    filled = client.get(f"/agent/tickets/{number}?insert={article_id}").text
    assert "готовим за 1 день**. &lt;script&gt;" in filled  # the raw text, escaped, in the reply
    client.cookies.clear()
    csrf = sign_in(client, staff.hr.token)
    page = client.get("/agent/knowledge").text
    assert 'id="kb-save"' not in page
    specialist = client.post("/agent/knowledge", data={**ARTICLE, "csrf": csrf})
    assert specialist.status_code == 403


def test_analytics_charts_for_leads_and_analysts_only(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    hr_ticket(runtime)
    sign_in(client, staff.analyst.token)
    page = client.get("/agent/analytics")
    assert page.status_code == 200 and page.text.count("<svg") == 5
    assert "webform" in page.text
    client.cookies.clear()
    sign_in(client, staff.hr.token)
    assert client.get("/agent/analytics").status_code == 403
    assert CSRF.search(client.get("/agent/").text)
