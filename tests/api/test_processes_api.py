"""POST /api/v1/processes/{code}, `okno process start`, and the milestones a requester receives."""

from __future__ import annotations

import email
import email.policy
import email.utils
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from channels.email.settings import load_email_settings
from channels.email.smtp_server import make_controller
from models.db import NotificationRow, Ticket
from router.intake import Intake
from router.runtime import Runtime
from scripts.cli import main
from tests.conftest import drain
from tests.support.mail import HELPDESK, Relay, free_port, relaying
from tests.support.workflow import REQUESTER, Staff, make_staff

FIELDS = {"start_date": "2027-01-11", "position": "Analyst", "manager_email": REQUESTER}


@pytest.fixture
def sink() -> Iterator[Relay]:
    with relaying() as box:
        yield box


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


def start(client: TestClient, staff: Staff, **body: Any) -> Any:
    body = {"fields": FIELDS, "requester": REQUESTER, **body}
    return client.post("/api/v1/processes/onboarding", json=body, headers=staff.lead.headers)


def test_lead_starts_onboarding_and_sees_the_whole_plan(client: TestClient, staff: Staff) -> None:
    resp = start(client, staff)
    assert resp.status_code == 201, resp.text
    parent = resp.json()
    assert parent["service"] == "hr_onboarding" and parent["fields"] == FIELDS
    assert [(c["service"], c["team"], c["status"], c["stage"]) for c in parent["children"]] == [
        ("hr_onboarding", "hr", "new", 0),
        ("access_account", "it_access", "planned", 1),
        ("it_equipment_request", "it_desk", "planned", 1),
        ("fac_workplace", "facilities", "planned", 1),
        ("sec_badge", "security", "planned", 1),
    ]
    assert all(
        {"number", "service", "team", "status", "stage"} <= set(c) for c in parent["children"]
    )
    assert all(c["number"].startswith("OKNO-") for c in parent["children"])
    child = client.get(
        f"/api/v1/tickets/{parent['children'][1]['number']}", headers=staff.admin.headers
    ).json()
    assert child["parent"] == parent["number"] and child["stage"] == 1
    assert child["status"] == "planned" and child["fields"] == FIELDS


def test_the_queue_never_lists_planned_tickets(client: TestClient, staff: Staff) -> None:
    children = start(client, staff).json()["children"]
    listed = client.get("/api/v1/queue", headers=staff.admin.headers).json()
    numbers = {t["number"] for t in listed["items"]}
    assert children[0]["number"] in numbers
    assert not numbers & {c["number"] for c in children[1:]}
    planned = client.get("/api/v1/queue?status=planned", headers=staff.admin.headers)
    assert planned.status_code == 422  # not a queue status at all


def test_who_may_start_and_what_must_be_given(client: TestClient, staff: Staff) -> None:
    specialist = client.post(
        "/api/v1/processes/onboarding", json={"fields": FIELDS}, headers=staff.hr.headers
    )
    assert specialist.status_code == 403
    missing = start(client, staff, fields={"position": "Analyst"})
    assert missing.status_code == 422 and missing.json()["error"] == "missing_fields"
    unknown = start(client, staff, fields={**FIELDS, "shoe_size": "42"})
    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_fields"
    assert (
        client.post(
            "/api/v1/processes/nope", json={"fields": {}}, headers=staff.admin.headers
        ).status_code
        == 404
    )


def test_email_requester_gets_one_mail_per_milestone(
    client: TestClient, runtime: Runtime, staff: Staff, sink: Relay
) -> None:
    parent = start(client, staff).json()
    drain(runtime)
    assert len(sink.messages) == 1 and parent["number"] in sink.texts()[0]

    def resolve(number: str, text: str) -> None:
        resp = client.post(
            f"/api/v1/tickets/{number}/resolve",
            json={"resolution": text},
            headers=staff.admin.headers,
        )
        assert resp.status_code == 200, resp.text

    hr, *rest = [c["number"] for c in parent["children"]]
    resolve(hr, "Приказ подписан")
    drain(runtime)
    assert len(sink.messages) == 2  # the next stage started: one mail naming all four
    assert all(number in sink.texts()[1] for number in rest)
    for number in rest:
        resolve(number, f"Готово: {number}")
    drain(runtime)
    assert len(sink.messages) == 3  # all done, with every step's resolution
    assert "Приказ подписан" in sink.texts()[2] and all(n in sink.texts()[2] for n in rest)
    with runtime.sessions() as session:
        rows = session.scalars(select(NotificationRow).order_by(NotificationRow.id)).all()
        parent_id = session.scalar(select(Ticket.id).where(Ticket.number == parent["number"]))
    assert {r.ticket_id for r in rows} == {parent_id}
    assert [(r.kind, r.channel, r.status) for r in rows] == [
        ("created", "email", "sent"),
        ("status", "email", "sent"),
        ("resolved", "email", "sent"),
    ]


def test_portal_requester_sees_the_plan_and_the_milestones(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    form = {
        "name": "Анна Петрова",
        "email": REQUESTER,
        "text": "С понедельника выходит новый менеджер, Иван Сидоров.",
        "service_code": "hr_onboarding",
        "submission_id": "form-onboarding",
    }
    assert client.post("/api/v1/intake/webform", json=form).status_code == 202
    drain(runtime)
    with runtime.sessions() as session:
        parent = session.scalars(select(Ticket).where(Ticket.parent_id.is_(None))).one()
        kids = session.scalars(select(Ticket).where(Ticket.parent_id == parent.id)).all()
        (created,) = session.scalars(select(NotificationRow.text)).all()
    assert all(k.number in created for k in kids)
    assert created.count("после предыдущего этапа") == 4  # the plan: later stages marked
    resp = client.post(
        f"/api/v1/tickets/{kids[0].number}/resolve",
        json={"resolution": "Приказ подписан"},
        headers=staff.admin.headers,
    )
    assert resp.status_code == 200, resp.text
    drain(runtime)
    with runtime.sessions() as session:
        rows = session.scalars(select(NotificationRow).order_by(NotificationRow.id)).all()
    on_portal = [r for r in rows if r.channel == "webform"]
    assert [(r.ticket_id, r.kind) for r in on_portal] == [
        (parent.id, "created"),
        (parent.id, "status"),
    ]
    assert all(k.number in on_portal[1].text for k in kids[1:])


def test_cli_starts_a_process(runtime: Runtime) -> None:
    env = {
        "OKNO_DATABASE_URL": runtime.settings.effective_database_url,
        "OKNO_DATA_DIR": str(runtime.settings.data_dir),
    }
    args = ["process", "start", "offboarding", "--field", "last_day=2027-02-01"]
    args += ["--field", "position=Analyst", "--field", f"manager_email={REQUESTER}"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert "stage 0:" in result.output and "access_revoke new" in result.output
    assert "pay_final_settlement planned" in result.output
    bad = CliRunner().invoke(main, ["process", "start", "offboarding", "--field", "x"], env=env)
    assert bad.exit_code != 0 and "NAME=VALUE" in bad.output


def submit_onboarding(client: TestClient, runtime: Runtime) -> tuple[int, str]:
    """A portal request for a new hire; its message id and the status link's key."""
    form = {
        "name": "Анна Петрова",
        "email": REQUESTER,
        "text": "С понедельника выходит новый менеджер, Иван Сидоров.",
        "service_code": "hr_onboarding",
        "submission_id": "form-onboarding-cancel",
    }
    accepted = client.post("/api/v1/intake/webform", json=form)
    assert accepted.status_code == 202, accepted.text
    drain(runtime)
    url = accepted.json()["status_url"]
    return accepted.json()["message_id"], url.rsplit("key=", 1)[1]


def updates(client: TestClient, message_id: int, key: str) -> list[str]:
    status = client.get(f"/api/v1/messages/{message_id}?key={key}")
    assert status.status_code == 200, status.text
    return [u["text"] for u in status.json()["updates"]]


def test_portal_requester_follows_the_milestones_on_the_status_link(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    message_id, key = submit_onboarding(client, runtime)
    with runtime.sessions() as session:
        kids = session.scalars(
            select(Ticket).where(Ticket.parent_id.is_not(None)).order_by(Ticket.id)
        ).all()
    assert len(updates(client, message_id, key)) == 1  # the plan
    for number in [k.number for k in kids]:
        resp = client.post(
            f"/api/v1/tickets/{number}/resolve",
            json={"resolution": f"Готово: {number}"},
            headers=staff.admin.headers,
        )
        assert resp.status_code == 200, resp.text
        drain(runtime)
    plan, started, done = updates(client, message_id, key)  # one per milestone, not per step
    assert all(k.number in started for k in kids[1:]) and kids[0].number not in started
    assert "Все этапы выполнены" in done and all(f"Готово: {k.number}" in done for k in kids)


def test_requester_cancels_the_process_with_the_status_link(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    message_id, key = submit_onboarding(client, runtime)
    url = f"/api/v1/messages/{message_id}/cancel"
    assert client.post(url, json={"reason": "x"}).status_code == 403  # no key
    assert client.post(f"{url}?key={'0' * 16}").status_code == 403
    resp = client.post(f"{url}?key={key}", json={"reason": "кандидат отказался"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "closed" and len(body["stopped"]) == 5
    drain(runtime)
    with runtime.sessions() as session:
        kids = session.scalars(select(Ticket).where(Ticket.parent_id.is_not(None))).all()
    assert {k.status for k in kids} == {"closed"}
    assert all("кандидат отказался" in (k.resolution or "") for k in kids)
    plan, cancelled = updates(client, message_id, key)  # one message for the whole process
    assert "отменено" in cancelled and all(n in cancelled for n in body["stopped"])
    again = client.post(f"{url}?key={key}")
    assert again.status_code == 409 and again.json()["error"] == "not_cancellable"
    assert "already closed" in again.json()["detail"]


def test_resolving_a_parent_over_open_steps_is_a_409_naming_them(
    client: TestClient, staff: Staff
) -> None:
    parent = start(client, staff).json()
    resp = client.post(
        f"/api/v1/tickets/{parent['number']}/resolve",
        json={"resolution": "Готово"},
        headers=staff.admin.headers,
    )
    assert resp.status_code == 409 and resp.json()["error"] == "open_children"
    assert all(c["number"] in resp.json()["detail"] for c in parent["children"])
    after = client.get(f"/api/v1/tickets/{parent['number']}", headers=staff.admin.headers).json()
    assert after["status"] == "new"


def test_email_requester_cancels_by_replying_cancel(
    client: TestClient, runtime: Runtime, staff: Staff, sink: Relay
) -> None:
    """A real reply through Okno's SMTP intake: "Отменить" over the quoted plan stops it all."""
    parent = start(client, staff).json()
    drain(runtime)
    (plan,) = sink.messages
    assert "«отменить»" in sink.texts()[0]
    port = free_port()
    intake = make_controller(Intake(runtime), load_email_settings(), host="127.0.0.1", port=port)
    intake.start()
    try:
        reply = EmailMessage()
        reply["From"] = f"Анна Петрова <{REQUESTER}>"
        reply["To"] = HELPDESK
        reply["Subject"] = "Re: " + str(plan["Subject"])
        reply["In-Reply-To"] = reply["References"] = plan["Message-ID"]
        reply["Message-ID"] = email.utils.make_msgid(domain="corp.example.com")
        quoted = "\n".join("> " + line for line in sink.texts()[0].splitlines())
        reply.set_content(f"Отменить\n\n{quoted}\n")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(reply)
        drain(runtime)
    finally:
        intake.stop()
    assert len(sink.messages) == 2  # one answer: the process is cancelled
    assert all(c["number"] in sink.texts()[1] for c in parent["children"])
    after = client.get(f"/api/v1/tickets/{parent['number']}", headers=staff.admin.headers).json()
    assert after["status"] == "closed"
    assert {c["status"] for c in after["children"]} == {"closed"}


def test_an_ordinary_request_is_cancelled_with_its_status_link_too(
    client: TestClient, runtime: Runtime
) -> None:
    form = {
        "name": "Анна Петрова",
        "email": REQUESTER,
        "text": "Нужна справка с места работы для визы.",
        "service_code": "hr_certificate",
        "submission_id": "form-certificate",
    }
    accepted = client.post("/api/v1/intake/webform", json=form).json()
    drain(runtime)
    key = accepted["status_url"].rsplit("key=", 1)[1]
    resp = client.post(f"/api/v1/messages/{accepted['message_id']}/cancel?key={key}")
    assert resp.status_code == 200, resp.text
    status = client.get(f"/api/v1/messages/{accepted['message_id']}").json()
    assert resp.json() == {"ticket": status["ticket"], "status": "closed", "stopped": []}
    drain(runtime)
    *_, cancelled = updates(client, accepted["message_id"], key)
    assert "отменено по вашей просьбе" in cancelled
