"""Hostile or odd input (issue #11, section 2): every channel answers with a 4xx or a ticket."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from channels.email.settings import load_email_settings
from channels.email.smtp_server import make_controller
from models.db import InboundMessage, Ticket, TicketMessage
from router.intake import Intake
from router.runtime import Runtime
from tests.api.conftest import free_port
from tests.conftest import drain

FORM = {
    "name": "Анна Петрова",
    "email": "a.petrova@corp.example.com",
    "subject": "Принтер",
    "text": "Не печатает принтер на третьем этаже.",
}


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


def ticket_of(runtime: Runtime, message_id: int) -> tuple[str, str, list[str]]:
    """(status, subject, message bodies) of the ticket a stored message made."""
    with runtime.sessions() as session:
        row = session.get(InboundMessage, message_id)
        assert row is not None and row.ticket_id is not None, row and (row.status, row.error)
        ticket = session.get(Ticket, row.ticket_id)
        assert ticket is not None
        bodies = session.scalars(
            select(TicketMessage.body).where(TicketMessage.ticket_id == ticket.id)
        )
        return row.status, ticket.subject, list(bodies)


def test_nul_bytes_in_a_web_form_make_a_ticket(client: TestClient, runtime: Runtime) -> None:
    form = {**FORM, "name": "Анна\u0000", "subject": "При\u0000нтер", "text": "printer\u0000broken"}
    resp = client.post("/api/v1/intake/webform", json=form)
    assert resp.status_code == 202, resp.text
    drain(runtime)
    status, subject, bodies = ticket_of(runtime, resp.json()["message_id"])
    assert (status, subject, bodies[0]) == ("processed", "Принтер", "printerbroken")


@pytest.fixture
def smtp_port(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("OKNO_EMAIL_ADDRESSES", "helpdesk@ssc.example.com")
    port = free_port()
    controller = make_controller(
        Intake(runtime), load_email_settings(), host="127.0.0.1", port=port
    )
    controller.start()
    yield port
    controller.stop()


def test_nul_bytes_in_a_mail_subject_and_body_make_a_ticket(
    smtp_port: int, runtime: Runtime
) -> None:
    raw = (
        b"From: Ivan <ivan@corp.example.com>\r\nTo: helpdesk@ssc.example.com\r\n"
        b"Subject: printer\x00 broken\r\nMessage-ID: <nul-1@corp.example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe printer\x00 is broken.\r\n"
    )
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        smtp.sendmail("ivan@corp.example.com", ["helpdesk@ssc.example.com"], raw)
    drain(runtime)
    with runtime.sessions() as session:
        message_id = session.scalars(select(InboundMessage.id)).one()
    status, subject, bodies = ticket_of(runtime, message_id)
    assert (status, subject) == ("processed", "printer broken")
    assert bodies[0].startswith("The printer is broken.")


def test_a_non_ascii_status_key_is_no_server_error(client: TestClient, runtime: Runtime) -> None:
    resp = client.post("/api/v1/intake/webform", json=FORM)
    message_id = resp.json()["message_id"]
    for key in ("%C3%A9", "%E2%82%AC" * 16, "%00"):
        answer = client.get(f"/api/v1/messages/{message_id}?key={key}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["updates"] == [] and answer.json()["status"] == "queued"


@pytest.mark.parametrize("text", [" ", "\n\t  \r\n", "\u00a0\u3000", "\x00 "])
def test_a_form_with_only_whitespace_is_refused_naming_the_field(
    client: TestClient, runtime: Runtime, text: str
) -> None:
    resp = client.post("/api/v1/intake/webform", json={**FORM, "text": text})
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "invalid" and "text" in str(resp.json()["detail"])
    with runtime.sessions() as session:
        assert session.scalars(select(InboundMessage.id)).first() is None


def test_a_changed_request_from_the_same_page_is_a_new_submission(
    client: TestClient, runtime: Runtime
) -> None:
    """The same submission_id resent unchanged is a retry; edited, it is a second request."""
    form = {**FORM, "submission_id": "portal-page-1"}
    first = client.post("/api/v1/intake/webform", json=form).json()
    retry = client.post("/api/v1/intake/webform", json=form).json()
    assert retry["duplicate"] and retry["message_id"] == first["message_id"]
    edited = {**form, "subject": "Сканер", "text": "И сканер тоже не сканирует."}
    second = client.post("/api/v1/intake/webform", json=edited).json()
    assert not second["duplicate"] and second["message_id"] != first["message_id"]
    drain(runtime)
    assert ticket_of(runtime, first["message_id"])[2] == [FORM["text"]]
    assert ticket_of(runtime, second["message_id"])[2] == [edited["text"]]


class Sink:
    """The company relay: keeps what it is given."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.received.append(envelope.content)
        return "250 OK"


@pytest.fixture
def relay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sink]:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("OKNO_SMTP_RELAY_HOST", "127.0.0.1")
    monkeypatch.setenv("OKNO_SMTP_RELAY_PORT", str(port))
    yield sink
    controller.stop()


def test_the_status_lists_each_update_once_when_a_relay_copies_it(
    relay: Sink, runtime: Runtime
) -> None:
    client = TestClient(create_app(runtime))
    accepted = client.post("/api/v1/intake/webform", json=FORM).json()
    drain(runtime)
    assert len(relay.received) == 1  # the e-mail copy of "created" went out
    status = client.get(accepted["status_url"].replace("http://testserver", "")).json()
    assert [u["kind"] for u in status["updates"]] == ["created"]
