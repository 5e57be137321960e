"""Abuse (issue #11, section 3): the web form is rate-limited, and mails only whom it may."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy import func, select

from api.app import create_app
from models.db import Employee, InboundMessage, NotificationRow, Ticket
from models.types import Channel, IncomingMessage
from router.intake import Intake
from router.runtime import Runtime
from tests.conftest import drain
from tests.support.mail import Relay

FORM = {"name": "Иван", "email": "ivan@corp.example.com", "text": "Нужна справка"}


def stored(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count(InboundMessage.id))) or 0


def post(client: TestClient, n: int, email: str = "ivan@corp.example.com") -> int:
    form = {**FORM, "email": email, "submission_id": f"s-{n}"}
    return client.post("/api/v1/intake/webform", json=form).status_code


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    runtime.settings.rate_limit_window_seconds = 3600  # no window ends during the test
    return TestClient(create_app(runtime))


def test_one_client_posting_too_often_gets_429_with_retry_after(
    client: TestClient, runtime: Runtime
) -> None:
    runtime.settings.rate_limit_per_client = 3
    assert [post(client, n, f"user{n}@corp.example.com") for n in range(3)] == [202] * 3
    resp = client.post("/api/v1/intake/webform", json={**FORM, "email": "x@corp.example.com"})
    assert resp.status_code == 429 and resp.json()["error"] == "rate_limited"
    assert 0 < int(resp.headers["Retry-After"]) <= 3600
    assert stored(runtime) == 3


def test_one_requester_address_posting_too_often_gets_429(
    client: TestClient, runtime: Runtime
) -> None:
    runtime.settings.rate_limit_per_requester = 2
    assert [post(client, n, "Victim@Corp.example.com") for n in range(4)] == [202, 202, 429, 429]
    assert post(client, 9, "someone.else@corp.example.com") == 202
    assert stored(runtime) == 3


def test_a_redis_outage_does_not_refuse_requests(client: TestClient, runtime: Runtime) -> None:
    """Stored before queued (the sweeper enqueues later): a limit never turns into a loss."""
    runtime.settings.rate_limit_per_client = 1
    runtime.redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    assert [post(client, n) for n in range(3)] == [202] * 3
    assert stored(runtime) == 3


def test_the_defaults_are_on() -> None:
    from models.settings import Settings

    settings = Settings()
    assert settings.rate_limit_per_client > 0 and settings.rate_limit_per_requester > 0


def test_automatic_mail_goes_only_to_employees_and_the_organisations_domains(
    relay: Relay, runtime: Runtime
) -> None:
    runtime.settings.org_domains = "corp.example.com, ssc.example.com"
    with runtime.sessions.begin() as session:
        session.add(Employee(name="Contractor", email="bob@partner.example", language="en"))
    client = TestClient(create_app(runtime))
    for n, email in enumerate(
        ["victim@elsewhere.example", "ivan@corp.example.com", "olga@msk.corp.example.com"]
    ):
        assert post(client, n, email) == 202
    forged = IncomingMessage(
        channel=Channel.email, external_id="forged", sender_address="x@evil.example", text="hi"
    )
    Intake(runtime).accept(forged)
    Intake(runtime).accept(
        forged.model_copy(update={"external_id": "bob", "sender_address": "bob@partner.example"})
    )
    drain(runtime)
    assert sorted(relay.recipients) == [
        "bob@partner.example",
        "ivan@corp.example.com",
        "olga@msk.corp.example.com",
    ]
    with runtime.sessions() as session:
        tickets = session.scalars(select(Ticket).order_by(Ticket.id)).all()
        assert len(tickets) == 5  # every request is kept
        outsiders = [
            t
            for t in tickets
            if t.requester_address in ("victim@elsewhere.example", "x@evil.example")
        ]
        assert all(not t.requester_verified for t in outsiders)
        held = session.scalars(
            select(NotificationRow).where(NotificationRow.status == "suppressed")
        ).all()
        assert sorted(n.recipient for n in held) == ["victim@elsewhere.example", "x@evil.example"]
        assert all("OKNO_ORG_DOMAINS" in (n.error or "") for n in held)
