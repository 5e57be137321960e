"""What intake answers a caller about a message it may not own."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from models.db import InboundMessage
from router import jobs
from router.intake import Intake
from router.runtime import Runtime
from tests.support.messages import form


def test_someone_elses_submission_id_reveals_nothing(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    body = {
        "name": "Иван",
        "email": "ivan@corp.example.com",
        "text": "Нужна справка",
        "submission_id": "form-0001",
    }
    mine = client.post("/api/v1/intake/webform", json=body).json()
    theirs = client.post(
        "/api/v1/intake/webform", json={**body, "email": "mallory@evil.example"}
    ).json()
    assert theirs["message_id"] != mine["message_id"] and not theirs["duplicate"]
    again = client.post("/api/v1/intake/webform", json=body).json()
    assert again["duplicate"] and again["message_id"] == mine["message_id"]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(InboundMessage.id))) == 2


def test_without_the_key_an_error_shows_only_its_kind(runtime: Runtime) -> None:
    result = Intake(runtime).accept(form("auto", meta={"auto_submitted": True}, service_hint=None))
    jobs.process_message(result.message_id)
    with runtime.sessions.begin() as session:
        row = session.get(InboundMessage, result.message_id)
        assert row is not None
        row.error = "link_phone: no employee has the phone '+79123456789'"
    client = TestClient(create_app(runtime))
    bare = client.get(f"/api/v1/messages/{result.message_id}").json()
    assert bare["error"] == "link_phone"
