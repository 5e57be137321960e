"""The workspace over HTTP: sign-in, CSRF, team scoping, actions through the API's rules, downloads."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.agent.session import COOKIE, AgentSession, encode
from api.app import create_app
from channels.blobs import store_blob
from models.db import NotificationRow, Ticket, TicketMessage, User
from router.runtime import Runtime
from tests.support.workflow import Staff, make_staff, make_ticket

CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime), follow_redirects=False)


def sign_in(client: TestClient, token: str) -> str:
    """Sign in through the form; returns the session's CSRF token from the queue page."""
    form = client.get("/agent/login")
    csrf = CSRF.search(form.text)
    assert csrf
    answer = client.post("/agent/login", data={"token": token, "csrf": csrf.group(1)})
    assert answer.status_code == 303 and answer.headers["location"] == "/agent/"
    queue = client.get("/agent/")
    assert queue.status_code == 200
    found = CSRF.search(queue.text)
    assert found
    return found.group(1)


def hr_ticket(runtime: Runtime, *, with_files: bool = False) -> str:
    with runtime.sessions() as session:
        ticket = make_ticket(session, service="hr_certificate")
        session.flush()
        if with_files:
            root = runtime.settings.attachments_dir
            first = session.scalars(
                select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
            ).one()
            first.attachments = [
                {"name": "справка.pdf", "content_type": "application/pdf", "size": 5,
                 "stored_key": store_blob(root, b"%PDF-")},
                {"name": "page.html", "content_type": "text/html", "size": 22,
                 "stored_key": store_blob(root, b"<script>alert(1)</script>")},
                {"name": "big.iso", "content_type": "application/x-iso9660-image", "size": 9,
                 "note": "dropped: too big"},
            ]  # fmt: skip
        session.commit()
        return str(ticket.number)


def test_sign_in_sets_a_signed_httponly_lax_cookie_and_sign_out_ends_it(
    client: TestClient, staff: Staff
) -> None:
    assert client.get("/agent/").headers["location"] == "/agent/login"
    poll = client.get("/agent/", headers={"HX-Request": "true"})  # an htmx poll, signed out
    assert poll.status_code == 204 and poll.headers["hx-redirect"] == "/agent/login"
    bad = client.post("/agent/login", data={"token": "okno_nope", "csrf": "x"})
    assert bad.status_code == 403  # no login CSRF cookie: refused before the token is looked at
    form = client.get("/agent/login")
    csrf = CSRF.search(form.text)
    assert csrf
    wrong = client.post("/agent/login", data={"token": "okno_nope", "csrf": csrf.group(1)})
    assert wrong.status_code == 401 and "отозван" in wrong.text
    answer = client.post("/agent/login", data={"token": staff.hr.token, "csrf": csrf.group(1)})
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and f"{COOKIE}=" in cookie
    page = client.get("/agent/")
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    token = CSRF.search(page.text)
    assert token
    assert client.post("/agent/logout", data={"csrf": "forged"}).status_code == 403
    out = client.post("/agent/logout", data={"csrf": token.group(1)})
    assert out.status_code == 303
    assert client.get("/agent/").headers["location"] == "/agent/login"


def test_a_forged_or_expired_cookie_is_no_session(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    client.cookies.set(COOKIE, "eyJ4IjoxfQ.deadbeef")
    assert client.get("/agent/").status_code == 303
    with runtime.sessions() as session:
        user = session.get(User, staff.hr.id)
        assert user is not None
        token_fp = (user.token_hash or "")[:16]
    expired = AgentSession(staff.hr.id, token_fp, time.time() - 1, "c")
    client.cookies.set(COOKIE, encode(runtime.secret_key, expired))
    assert client.get("/agent/").status_code == 303
    alive = AgentSession(staff.hr.id, token_fp, time.time() + 60, "c")
    client.cookies.set(COOKIE, encode(runtime.secret_key, alive))
    assert client.get("/agent/").status_code == 200
    forged = encode(b"another key" * 4, alive)
    client.cookies.set(COOKIE, forged)
    assert client.get("/agent/").status_code == 303


def test_queue_and_ticket_are_scoped_to_the_teams(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    number = hr_ticket(runtime)
    sign_in(client, staff.hr.token)
    assert number in client.get("/agent/").text
    assert number in client.get(f"/agent/tickets/{number}").text
    client.cookies.clear()
    csrf = sign_in(client, staff.payroll.token)
    assert number not in client.get("/agent/").text
    assert client.get(f"/agent/tickets/{number}").status_code == 404
    refused = client.post(
        f"/agent/tickets/{number}/comment", data={"csrf": csrf, "text": "x", "public": "true"}
    )
    assert refused.status_code == 404
    assert client.get("/agent/?team=hr").status_code == 403


def test_comment_needs_the_csrf_token_and_reaches_the_requester(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    number = hr_ticket(runtime)
    csrf = sign_in(client, staff.hr.token)
    url = f"/agent/tickets/{number}/comment"
    forged = client.post(url, data={"csrf": "nope", "text": "Готово", "public": "true"})
    assert forged.status_code == 403
    internal = client.post(url, data={"csrf": csrf, "text": "проверить стаж"})
    assert internal.status_code == 303
    public = client.post(url, data={"csrf": csrf, "text": "Справка готова", "public": "true"})
    assert public.status_code == 303
    with runtime.sessions() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None
        kinds = [(m.direction, m.body) for m in ticket.messages][-2:]
        notes = session.scalars(select(NotificationRow)).all()
    assert kinds == [("internal", "проверить стаж"), ("outbound", "Справка готова")]
    assert [n.kind for n in notes] == ["comment"] and "Справка готова" in notes[0].text
    page = client.get(f"/agent/tickets/{number}").text
    assert 'class="msg internal"' in page and 'class="msg outbound"' in page


def test_actions_follow_the_state_machine_and_roles(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    number = hr_ticket(runtime)
    csrf = sign_in(client, staff.hr.token)
    base = f"/agent/tickets/{number}"
    assert client.post(f"{base}/claim", data={"csrf": csrf}).status_code == 303
    assert client.post(f"{base}/start", data={"csrf": csrf}).status_code == 303
    again = client.post(f"{base}/claim", data={"csrf": csrf})
    assert again.status_code in (303, 409)
    empty = client.post(f"{base}/reassign", data={"csrf": csrf, "service": "pay_salary_question"})
    assert empty.status_code == 422  # the reason is required: it becomes the training label
    moved = client.post(
        f"{base}/reassign",
        data={"csrf": csrf, "service": "pay_salary_question", "reason": "вопрос о зарплате"},
    )
    assert moved.status_code == 303
    assert client.get(base).status_code == 404  # now payroll's, out of hr's sight
    client.cookies.clear()
    csrf = sign_in(client, staff.analyst.token)
    assert client.post(f"{base}/claim", data={"csrf": csrf}).status_code == 403


def test_attachment_download_is_scoped_and_typed_by_the_allow_list(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    number = hr_ticket(runtime, with_files=True)
    with runtime.sessions() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None
        message_id = ticket.messages[0].id
    url = f"/api/v1/tickets/{number}/attachments/{message_id}-"
    pdf = client.get(url + "0", headers=staff.hr.headers)
    assert pdf.status_code == 200 and pdf.content == b"%PDF-"
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    html = client.get(url + "1", headers=staff.hr.headers)
    assert html.headers["content-type"] == "application/octet-stream"
    assert html.headers["x-content-type-options"] == "nosniff"
    assert client.get(url + "2", headers=staff.hr.headers).status_code == 404  # never stored
    assert client.get(url + "0", headers=staff.payroll.headers).status_code == 404
    assert client.get(url + "0").status_code == 401
    sign_in(client, staff.hr.token)
    page = client.get(f"/agent/tickets/{number}").text
    assert "справка.pdf" in page and "dropped: too big" in page
    assert client.get(f"/agent/tickets/{number}/attachments/{message_id}-0").content == b"%PDF-"


def test_language_follows_the_browser_and_the_switch(client: TestClient) -> None:
    assert "Войти" in client.get("/agent/login", headers={"Accept-Language": "ru-RU"}).text
    assert "Sign in" in client.get("/agent/login", headers={"Accept-Language": "en-GB"}).text
    switched = client.get("/agent/lang/en?next=/agent/login")
    assert switched.headers["location"] == "/agent/login"
    assert "Sign in" in client.get("/agent/login", headers={"Accept-Language": "ru"}).text
    assert client.get("/agent/lang/en?next=//evil.example").headers["location"] == "/agent/"
