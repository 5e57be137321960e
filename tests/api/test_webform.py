"""The web form end to end: HTTP in, RQ job, ticket + outbox, status back; and bad input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from models.db import InboundMessage, NotificationRow, Ticket
from router.runtime import Runtime
from router.users import create_user
from tests.conftest import drain


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    """An admin's client: the ticket reads need a token; the public endpoints ignore it."""
    with runtime.sessions() as session:
        _, token = create_user(
            session=session, name="Admin", email="admin@ssc.example.com", role="admin", teams=[]
        )
        session.commit()
    return TestClient(create_app(runtime), headers={"Authorization": f"Bearer {token}"})


FORM = {
    "name": "Анна Петрова",
    "email": "a.petrova@corp.example.com",
    "subject": "Справка с места работы",
    "text": "Добрый день! Нужна справка с места работы для визы, 2 экземпляра.",
    "service_code": "hr_certificate",
    "submission_id": "form-0001",
}


def test_webform_creates_ticket_and_notification(client: TestClient, runtime: Runtime) -> None:
    resp = client.post("/api/v1/intake/webform", json=FORM)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert f"/api/v1/messages/{body['message_id']}?key=" in body["status_url"]
    assert client.get(f"/api/v1/messages/{body['message_id']}").json()["status"] == "queued"

    drain(runtime)

    status = client.get(body["status_url"].replace("http://testserver", "")).json()
    assert status["status"] == "processed"
    number = status["ticket"]
    assert number.startswith("OKNO-")
    ticket = client.get(f"/api/v1/tickets/{number}").json()
    assert ticket["service"] == "hr_certificate"
    assert ticket["team"] == "hr"
    assert ticket["routing"] == "requester"
    assert ticket["language"] == "ru"
    assert ticket["response_due_at"] and ticket["resolution_due_at"]
    assert ticket["messages"][0]["body"].startswith("Добрый день")
    kinds = [e["kind"] for e in ticket["events"]]
    assert kinds == ["created", "sla_started", "sla_started"]
    with runtime.sessions() as session:
        note = session.scalars(select(NotificationRow)).one()
    assert note.kind == "created" and note.status == "sent"
    assert number in note.text and "Справка с места работы" in note.text
    assert status["updates"][0]["kind"] == "created"
    # Without the key of the link, anyone sees the status and number, not what we wrote.
    bare = client.get(f"/api/v1/messages/{body['message_id']}").json()
    assert bare["ticket"] == number and bare["updates"] == []
    forged = client.get(f"/api/v1/messages/{body['message_id']}?key=" + "0" * 16).json()
    assert forged["updates"] == []


def test_free_text_goes_to_triage_without_a_model(client: TestClient, runtime: Runtime) -> None:
    form = {
        **FORM,
        "service_code": None,
        "submission_id": "form-free",
        "language": "en",
        "text": "My laptop screen is cracked",
        "subject": "",
    }
    resp = client.post("/api/v1/intake/webform", json=form)
    drain(runtime)
    number = client.get(resp.json()["status_url"].replace("http://testserver", "")).json()["ticket"]
    ticket = client.get(f"/api/v1/tickets/{number}").json()
    assert ticket["team"] == "triage" and ticket["service"] is None
    assert ticket["routing"] == "triage"
    listed = client.get("/api/v1/tickets", params={"team": "triage"}).json()
    assert [t["number"] for t in listed] == [number]
    with runtime.sessions() as session:
        note = session.scalars(select(NotificationRow)).one()
    assert note.language == "en" and "registered" in note.text


def test_duplicate_submission_makes_one_ticket(client: TestClient, runtime: Runtime) -> None:
    first = client.post("/api/v1/intake/webform", json=FORM).json()
    drain(runtime)
    second = client.post("/api/v1/intake/webform", json=FORM)
    assert second.status_code == 202
    assert second.json()["message_id"] == first["message_id"]
    assert second.json()["duplicate"] is True
    assert second.json()["ticket"].startswith("OKNO-")
    drain(runtime)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(Ticket.id))) == 1
        assert session.scalar(select(func.count(InboundMessage.id))) == 1


def test_onboarding_fans_out_into_sub_tickets(client: TestClient, runtime: Runtime) -> None:
    form = {
        **FORM,
        "service_code": "hr_onboarding",
        "submission_id": "form-onb",
        "text": "С понедельника выходит новый менеджер, Иван Сидоров.",
    }
    client.post("/api/v1/intake/webform", json=form)
    drain(runtime)
    with runtime.sessions() as session:
        parent = session.scalars(select(Ticket).where(Ticket.parent_id.is_(None))).one()
        children = session.scalars(select(Ticket).where(Ticket.parent_id == parent.id)).all()
    assert {c.team_code for c in children} == {
        "hr",
        "facilities",
        "it_access",
        "it_desk",
        "security",
    }
    detail = client.get(f"/api/v1/tickets/{parent.number}").json()
    assert len(detail["children"]) == 5
    with runtime.sessions() as session:
        note = session.scalars(select(NotificationRow)).one()
    assert all(c.number in note.text for c in children)


@pytest.mark.parametrize("missing", ["name", "email", "text"])
def test_missing_field_is_named(client: TestClient, missing: str) -> None:
    form = {k: v for k, v in FORM.items() if k != missing}
    resp = client.post("/api/v1/intake/webform", json=form)
    assert resp.status_code == 422
    assert resp.json()["error"] == "invalid"
    assert any(f["field"] == missing for f in resp.json()["detail"])


def test_oversized_text_is_413(client: TestClient, runtime: Runtime) -> None:
    form = {**FORM, "text": "я" * (runtime.settings.max_text_bytes // 2 + 1)}
    resp = client.post("/api/v1/intake/webform", json=form)
    assert resp.status_code == 413 and resp.json()["error"] == "text_too_large"
    huge = {**FORM, "text": "x" * (runtime.settings.max_body_bytes + 1)}
    assert client.post("/api/v1/intake/webform", json=huge).status_code == 413
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(InboundMessage.id))) == 0


def test_unknown_service_code_is_422(client: TestClient, runtime: Runtime) -> None:
    resp = client.post("/api/v1/intake/webform", json={**FORM, "service_code": "no_such"})
    assert resp.status_code == 422
    assert resp.json() == {"error": "unknown_service", "detail": "no active service 'no_such'"}


def test_bad_email_and_unknown_message(client: TestClient) -> None:
    resp = client.post("/api/v1/intake/webform", json={**FORM, "email": "not-an-address"})
    assert resp.status_code == 422
    assert client.get("/api/v1/messages/999999").status_code == 404
    assert client.get("/api/v1/tickets/OKNO-999999").json()["error"] == "not_found"


def test_services_health_and_metrics(client: TestClient) -> None:
    services = client.get("/api/v1/services").json()
    assert len(services) >= 30 and {"code", "team", "name_ru", "name_en"} <= set(services[0])
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "redis": "ok"}
    assert "okno_queue_length" in client.get("/metrics").text
    assert "Okno" in client.get("/").text
    assert "/api/v1/intake/webform" in client.get("/openapi.json").json()["paths"]
