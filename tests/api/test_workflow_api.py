"""Ticket actions over HTTP: notifications through the origin channel, ETags, errors, audit."""

from __future__ import annotations

import pytest
from fastapi import Response
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.errors import ApiError
from api.workflow import Act
from classifier.dataset import examples_from_db
from models.db import NotificationRow, Ticket, User
from router.lifecycle import actions
from router.lifecycle.outcome import Outcome
from router.runtime import Runtime
from tests.conftest import drain
from tests.support.workflow import Staff, make_staff, make_ticket

FORM = {
    "name": "Анна Петрова",
    "email": "a.petrova@corp.example.com",
    "subject": "Справка с места работы",
    "text": "Добрый день! Нужна справка с места работы для визы.",
    "service_code": "hr_certificate",
    "submission_id": "form-wf-1",
}


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


def webform_ticket(client: TestClient, runtime: Runtime) -> tuple[str, str]:
    """A ticket made the real way: the web form, the intake job; returns (number, status path)."""
    accepted = client.post("/api/v1/intake/webform", json=FORM).json()
    drain(runtime)
    status_path = accepted["status_url"].removeprefix("http://testserver")
    return client.get(status_path).json()["ticket"], status_path


def test_public_comment_reaches_the_requester_through_the_webform(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    number, status_path = webform_ticket(client, runtime)
    url = f"/api/v1/tickets/{number}/comment"
    internal = client.post(url, json={"text": "проверить стаж"}, headers=staff.hr.headers)
    assert (
        internal.status_code == 200 and internal.json()["messages"][-1]["direction"] == "internal"
    )
    public = client.post(
        url, json={"text": "Справка будет готова завтра", "public": True}, headers=staff.hr.headers
    )
    assert public.status_code == 200
    assert public.json()["messages"][-1]["direction"] == "outbound"
    drain(runtime)
    with runtime.sessions() as session:
        notes = session.scalars(select(NotificationRow).order_by(NotificationRow.id)).all()
    assert [(n.kind, n.channel, n.status) for n in notes] == [
        ("created", "webform", "sent"),
        ("comment", "webform", "sent"),
    ]
    assert "Справка будет готова завтра" in notes[1].text and notes[1].external_id
    updates = client.get(status_path).json()["updates"]
    assert [u["kind"] for u in updates] == ["created", "comment"]
    assert "проверить стаж" not in str(updates)


def test_reassignment_is_audited_and_exported_as_the_corrected_label(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    with runtime.sessions() as session:
        number = make_ticket(session, service="hr_certificate", predicted="hr_certificate").number
        session.commit()
    moved = client.post(
        f"/api/v1/tickets/{number}/reassign",
        json={"service": "pay_2ndfl", "reason": "это про 2-НДФЛ"},
        headers=staff.hr.headers,
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["service"], body["team"], body["status"]) == ("pay_2ndfl", "payroll", "new")
    assert body["classifier"]["predicted_service"] == "hr_certificate"
    # The specialist sent it away: it is payroll's now, hr no longer sees it.
    assert client.get(f"/api/v1/tickets/{number}", headers=staff.hr.headers).status_code == 404
    events = client.get(f"/api/v1/tickets/{number}/events", headers=staff.payroll.headers).json()
    [event] = [e for e in events if e["kind"] == "reassigned"]
    assert (event["from_value"], event["to_value"]) == ("hr:hr_certificate", "payroll:pay_2ndfl")
    assert event["data"]["reason"] == "это про 2-НДФЛ"
    resolved = client.post(
        f"/api/v1/tickets/{number}/resolve",
        json={"resolution": "Готово"},
        headers=staff.payroll.headers,
    )
    assert resolved.status_code == 200
    with runtime.sessions() as session:
        rows = session.execute(
            select(Ticket.service_code, Ticket.predicted_service_code).where(
                Ticket.status == "resolved", Ticket.service_code != Ticket.predicted_service_code
            )
        ).all()
        exported = examples_from_db(session=session)  # what `okno model export` writes
    assert rows == [("pay_2ndfl", "hr_certificate")]
    assert [(r["number"], r["service"]) for r in exported] == [(number, "pay_2ndfl")]


def test_if_match_guards_against_lost_updates(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    with runtime.sessions() as session:
        number = make_ticket(session).number
        session.commit()
    got = client.get(f"/api/v1/tickets/{number}", headers=staff.hr.headers)
    etag = got.headers["ETag"]
    assert etag == f'"{got.json()["version"]}"'
    claimed = client.post(
        f"/api/v1/tickets/{number}/claim", headers={**staff.hr.headers, "If-Match": etag}
    )
    assert claimed.status_code == 200 and claimed.headers["ETag"] != etag
    assert claimed.json()["version"] == got.json()["version"] + 1
    stale = client.post(
        f"/api/v1/tickets/{number}/start", headers={**staff.hr.headers, "If-Match": etag}
    )
    assert stale.status_code == 412 and stale.json()["error"] == "precondition_failed"
    assert stale.json()["detail"]["current_version"] == claimed.json()["version"]
    for junk in ("yesterday", "²".encode("latin-1"), '"3", x'):  # ² is a digit to str.isdigit
        bad = client.post(
            f"/api/v1/tickets/{number}/start", headers={**staff.hr.headers, "If-Match": junk}
        )
        assert bad.status_code == 412, junk
    for form in ("{v}", 'W/"{v}"', "*", '"1", "{v}"'):
        version = client.get(f"/api/v1/tickets/{number}", headers=staff.hr.headers).json()[
            "version"
        ]
        ok = client.post(
            f"/api/v1/tickets/{number}/comment",
            json={"text": "x"},
            headers={**staff.hr.headers, "If-Match": form.format(v=version)},
        )
        assert ok.status_code == 200, (form, ok.text)


def test_concurrent_change_between_read_and_write_is_409(runtime: Runtime, staff: Staff) -> None:
    with runtime.sessions() as session:
        number = make_ticket(session).number or ""
        session.commit()

    def racing(version: int | None) -> Outcome:
        result = actions.claim(session=session, ticket_number=number, user_id=staff.hr.id)
        with runtime.sessions() as other:  # a colleague's request commits first
            actions.start(session=other, ticket_number=number, user_id=staff.hr2.id)
            other.commit()
        return result

    with runtime.sessions() as session:
        user = session.get(User, staff.hr.id)
        assert user is not None
        act = Act(session, runtime, user, Response(), None)
        with pytest.raises(ApiError) as err:
            act.run(number, racing)
    assert (err.value.status, err.value.code) == (409, "conflict")


def test_invalid_transition_is_409_naming_the_allowed_actions(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    with runtime.sessions() as session:
        number = make_ticket(session).number
        session.commit()
    h = staff.hr.headers
    assert (
        client.post(
            f"/api/v1/tickets/{number}/close", json={"reason": "спам"}, headers=h
        ).status_code
        == 200
    )
    resp = client.post(f"/api/v1/tickets/{number}/resolve", json={"resolution": "x"}, headers=h)
    assert resp.status_code == 409
    assert resp.json() == {
        "error": "invalid_transition",
        "detail": {
            "message": "cannot resolve a ticket that is closed; allowed from closed: reopen, feedback",
            "status": "closed",
            "allowed": ["reopen", "feedback"],
        },
    }
    detail = client.get(f"/api/v1/tickets/{number}", headers=h).json()
    assert detail["allowed_actions"] == ["reopen", "feedback", "comment", "link"]
    assert detail["messages"][-1]["body"] == "Closed: спам"


def test_ask_pauses_the_clock_and_resolve_asks_for_feedback(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    number, _ = webform_ticket(client, runtime)
    h = staff.hr.headers
    asked = client.post(
        f"/api/v1/tickets/{number}/ask", json={"text": "Для какой страны виза?"}, headers=h
    ).json()
    assert asked["status"] == "waiting_for_requester" and asked["sla_paused"] is True
    assert asked["sla_paused_at"] and asked["first_response_at"]
    started = client.post(f"/api/v1/tickets/{number}/start", headers=h).json()
    assert started["status"] == "in_progress" and started["sla_paused"] is False
    resolved = client.post(
        f"/api/v1/tickets/{number}/resolve", json={"resolution": "Справка готова"}, headers=h
    )
    assert resolved.json()["resolution"] == "Справка готова"
    drain(runtime)
    with runtime.sessions() as session:
        last = session.scalars(select(NotificationRow).order_by(NotificationRow.id.desc())).first()
    assert last is not None and last.kind == "resolved" and last.status == "sent"
    assert "1 до 5" in last.text and last.extra["feedback_request"] is True
    rating = {"rating": 5, "comment": "спасибо", "channel": "webform"}
    url = f"/api/v1/tickets/{number}/feedback"
    assert client.post(url, json=rating, headers=h).status_code == 403  # not by the rated
    feedback = client.post(url, json=rating, headers=staff.lead.headers)
    assert feedback.status_code == 200 and feedback.json()["feedback"]["rating"] == 5
    [event] = [e for e in feedback.json()["events"] if e["kind"] == "feedback"]
    assert event["data"]["recorded_by"] == staff.lead.email
    bad = client.post(url, json={"rating": 6, "channel": "webform"}, headers=staff.lead.headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "rating"


def test_assign_merge_and_link_over_http(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    with runtime.sessions() as session:
        one, two = make_ticket(session).number, make_ticket(session).number
        session.commit()
    assigned = client.post(
        f"/api/v1/tickets/{one}/assign", json={"user_id": staff.hr2.id}, headers=staff.lead.headers
    )
    assert (
        assigned.json()["assignee"] == staff.hr2.email and assigned.json()["status"] == "assigned"
    )
    outsider = client.post(
        f"/api/v1/tickets/{one}/assign",
        json={"user_id": staff.payroll.id},
        headers=staff.lead.headers,
    )
    assert outsider.status_code == 422 and outsider.json()["error"] == "assignee_not_in_team"
    taken = client.post(f"/api/v1/tickets/{one}/claim", headers=staff.hr.headers)
    assert taken.status_code == 409 and taken.json()["error"] == "already_assigned"
    linked = client.post(
        f"/api/v1/tickets/{one}/links",
        json={"other": two, "kind": "related"},
        headers=staff.hr.headers,
    )
    assert linked.json()["links"] == [{"number": two, "kind": "related"}]
    again = client.post(
        f"/api/v1/tickets/{two}/links", json={"other": one}, headers=staff.hr.headers
    )
    assert again.status_code == 409 and again.json()["error"] == "already_linked"
    merged = client.post(
        f"/api/v1/tickets/{two}/merge", json={"into": one}, headers=staff.hr.headers
    )
    assert merged.json()["merged_into"] == one and merged.json()["status"] == "closed"
    reopen = client.post(f"/api/v1/tickets/{two}/reopen", headers=staff.hr.headers)
    assert reopen.status_code == 409 and reopen.json()["error"] == "merged"
    itself = client.post(
        f"/api/v1/tickets/{one}/merge", json={"into": one}, headers=staff.hr.headers
    )
    assert itself.status_code == 422 and itself.json()["error"] == "same_ticket"


def test_bad_input_is_named(client: TestClient, runtime: Runtime, staff: Staff) -> None:
    with runtime.sessions() as session:
        number = make_ticket(session).number
        session.commit()
    h = staff.hr.headers
    cases = [
        ("comment", {"text": ""}, "text"),
        ("comment", {"text": "a\x00b"}, "text"),
        ("comment", {"text": "x", "extra": 1}, "extra"),
        ("reassign", {"service": "pay_2ndfl"}, "reason"),
        ("reassign", {"service": "NOT A CODE", "reason": "r"}, "service"),
        ("merge", {"into": "12"}, "into"),
    ]
    for action, body, field in cases:
        resp = client.post(f"/api/v1/tickets/{number}/{action}", json=body, headers=h)
        assert resp.status_code == 422, (action, body, resp.text)
        assert field in {f["field"] for f in resp.json()["detail"]}, resp.text
    nowhere = client.post(f"/api/v1/tickets/{number}/reassign", json={"reason": "r"}, headers=h)
    assert nowhere.json()["error"] == "no_destination"
    assert client.get("/api/v1/tickets/not-a-number", headers=h).status_code == 422
    assert client.post("/api/v1/tickets/OKNO-999999/claim", headers=h).status_code == 404


def test_feedback_honours_if_match(client: TestClient, runtime: Runtime, staff: Staff) -> None:
    number, _ = webform_ticket(client, runtime)
    resolved = client.post(
        f"/api/v1/tickets/{number}/resolve", json={"resolution": "ok"}, headers=staff.hr.headers
    )
    url = f"/api/v1/tickets/{number}/feedback"
    rating = {"rating": 4, "channel": "webform"}
    stale = client.post(url, json=rating, headers={**staff.lead.headers, "If-Match": '"999"'})
    assert stale.status_code == 412 and stale.json()["error"] == "precondition_failed"
    fresh = {**staff.lead.headers, "If-Match": resolved.headers["ETag"]}
    assert client.post(url, json=rating, headers=fresh).status_code == 200
