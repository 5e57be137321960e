"""Following a request (issue #17): the status page's conversation and reply, "My requests".

Real intake, real jobs (drained in-process), a real SMTP relay catching the sign-in mail.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.app import create_app
from models.db import (
    Employee,
    EmployeeAddress,
    Feedback,
    NotificationRow,
    PortalSignIn,
    Ticket,
    TicketMessage,
)
from models.types import Channel, IncomingMessage, utcnow
from router import portal_sign_in
from router.intake import Intake
from router.lifecycle import actions, moves, process_cancel
from router.runtime import Runtime
from router.status_link import status_key
from tests.conftest import drain
from tests.support.mail import Relay
from tests.support.workflow import Staff, make_staff, make_ticket

ANNA = "anna@corp.example.com"
BORIS = "boris@corp.example.com"
PHONE = "+79123456789"
CHAT = "700100200"
SIGN_IN_LINK = re.compile(r"https?://[^\s<>\"]+/my/sign-in/[A-Za-z0-9_\-]+")


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


def submit(
    runtime: Runtime,
    key: str,
    *,
    channel: Channel = Channel.webform,
    sender: str = ANNA,
    text: str = "Нужна справка с места работы для визы.",
) -> int:
    result = Intake(runtime).accept(
        IncomingMessage(
            channel=channel,
            external_id=key,
            sender_address=sender,
            sender_name="Анна",
            subject="Справка",
            text=text,
            service_hint="hr_certificate",
            language="ru",
        )
    )
    drain(runtime)
    return result.message_id


def number_of(runtime: Runtime, message_id: int) -> str:
    with runtime.sessions() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.source_message_id == message_id))
        assert ticket is not None and ticket.number
        return ticket.number


def keyed(runtime: Runtime, message_id: int) -> str:
    return f"key={status_key(runtime.secret_key, message_id)}"


def comment(runtime: Runtime, staff: Staff, number: str, text: str, *, public: bool) -> None:
    with runtime.sessions() as session:
        actions.comment(
            session=session, ticket_number=number, user_id=staff.hr.id, text=text, public=public
        )
        session.commit()


def resolve(runtime: Runtime, staff: Staff, number: str, text: str) -> None:
    with runtime.sessions() as session:
        actions.resolve(session=session, ticket_number=number, user_id=staff.hr.id, resolution=text)
        session.commit()


def test_status_link_shows_the_whole_public_conversation_and_never_internal_notes(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    mid = submit(runtime, "conv-1")
    number = number_of(runtime, mid)
    comment(runtime, staff, number, "Справку подготовим к пятнице.", public=True)
    comment(runtime, staff, number, "ВНУТРЕННЕЕ: проверить стаж", public=False)
    resolve(runtime, staff, number, "Справка готова, заберите в отделе кадров.")

    body = client.get(f"/api/v1/messages/{mid}/conversation?{keyed(runtime, mid)}").json()

    assert body["number"] == number
    assert body["service"]["code"] == "hr_certificate" and body["team"]["code"] == "hr"
    assert body["status"] == "resolved" and body["due_at"]
    texts = [e["text"] for e in body["entries"] if e["kind"] == "message"]
    assert texts == [
        "Нужна справка с места работы для визы.",
        "Справку подготовим к пятнице.",
        "Справка готова, заберите в отделе кадров.",
    ]
    assert not any("ВНУТРЕННЕЕ" in e["text"] for e in body["entries"])
    assert [e["who"] for e in body["entries"] if e["kind"] == "message"] == [
        "requester",
        "staff",
        "staff",
    ]
    assert any(e["kind"] == "status" and e["to"] == "resolved" for e in body["entries"])
    assert "зарегистрировано" in body["entries"][1]["text"]  # the "created" notice, once
    assert set(body["rating_urls"]) == {"1", "2", "3", "4", "5"}
    # The original endpoint is unchanged beside it.
    assert client.get(f"/api/v1/messages/{mid}?{keyed(runtime, mid)}").json()["ticket"] == number


def test_a_reassignment_to_another_team_shows_in_the_conversation(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    mid = submit(runtime, "conv-moved")
    number = number_of(runtime, mid)
    with runtime.sessions() as session:
        moves.reassign(
            session=session,
            ticket_number=number,
            user_id=staff.lead.id,
            team_code="payroll",
            reason="это к бухгалтерии",
        )
        session.commit()
    body = client.get(f"/api/v1/messages/{mid}/conversation?{keyed(runtime, mid)}").json()
    moved = [e for e in body["entries"] if e["kind"] == "team"]
    assert [e["team"]["code"] for e in moved] == ["payroll"]
    assert body["team"]["code"] == "payroll"


def test_before_its_ticket_exists_the_status_link_says_it_is_being_registered(
    client: TestClient, runtime: Runtime
) -> None:
    mid = (
        Intake(runtime)
        .accept(
            IncomingMessage(
                channel=Channel.webform,
                external_id="queued-1",
                sender_address=ANNA,
                text="Помогите",
            )
        )
        .message_id
    )
    body = client.get(f"/api/v1/messages/{mid}/conversation?{keyed(runtime, mid)}").json()
    assert body["message_status"] == "queued" and body["ticket"] is None
    assert body["final"] is False


def test_a_wrong_or_missing_key_is_as_good_as_no_message(
    client: TestClient, runtime: Runtime
) -> None:
    mid = submit(runtime, "conv-key")
    wrong = status_key(runtime.secret_key, mid + 1)
    for query in ("", f"?key={wrong}", "?key=абв"):
        assert client.get(f"/api/v1/messages/{mid}/conversation{query}").status_code == 404
        answer = client.post(f"/api/v1/messages/{mid}/replies{query}", json={"text": "привет"})
        assert answer.status_code == 404


def test_status_page_is_served_for_a_status_link_and_the_form_for_the_bare_portal(
    client: TestClient, runtime: Runtime
) -> None:
    mid = submit(runtime, "conv-page")
    page = client.get(f"/?m={mid}&{keyed(runtime, mid)}")
    assert page.status_code == 200 and "/static/follow/follow.js" in page.text
    assert "/static/follow/follow.js" not in client.get("/").text
    assert client.get("/static/follow/follow.js").status_code == 200


def test_reply_from_the_status_page_threads_and_reopens_a_resolved_ticket(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    mid = submit(runtime, "conv-reply")
    number = number_of(runtime, mid)
    resolve(runtime, staff, number, "Справка готова.")

    answer = client.post(
        f"/api/v1/messages/{mid}/replies?{keyed(runtime, mid)}",
        json={"text": "Справка не та, нужна на английском.", "submission_id": "r1"},
    )
    again = client.post(
        f"/api/v1/messages/{mid}/replies?{keyed(runtime, mid)}",
        json={"text": "Справка не та, нужна на английском.", "submission_id": "r1"},
    )
    drain(runtime)

    assert answer.status_code == 202 and answer.json()["ticket"] == number
    assert again.json()["duplicate"] is True
    with runtime.sessions() as session:
        tickets = session.scalars(select(Ticket)).all()
        assert len(tickets) == 1  # threaded, not a new ticket
        assert tickets[0].status != "resolved"
        bodies = session.scalars(
            select(TicketMessage.body).where(TicketMessage.direction == "inbound")
        ).all()
    assert bodies == [
        "Нужна справка с места работы для визы.",
        "Справка не та, нужна на английском.",
    ]
    view = client.get(f"/api/v1/messages/{mid}/conversation?{keyed(runtime, mid)}").json()
    moves = [e["to"] for e in view["entries"] if e["kind"] == "status"]
    assert moves[-2:] == ["resolved", "new"], view["entries"]  # reopened


def test_a_reply_may_carry_files_uploaded_as_for_the_form(
    client: TestClient, runtime: Runtime
) -> None:
    mid = submit(runtime, "conv-files")
    upload = client.post(
        "/api/v1/intake/uploads",
        files={"file": ("паспорт.pdf", b"%PDF-1.4 scan", "application/pdf")},
    )
    assert upload.status_code == 201, upload.text
    answer = client.post(
        f"/api/v1/messages/{mid}/replies?{keyed(runtime, mid)}",
        json={"text": "Скан паспорта во вложении.", "attachments": [upload.json()["id"]]},
    )
    assert answer.status_code == 202, answer.text
    drain(runtime)
    with runtime.sessions() as session:
        message = session.scalar(select(TicketMessage).order_by(TicketMessage.id.desc()))
        assert message is not None and message.body == "Скан паспорта во вложении."
        [stored] = message.attachments
    assert stored["name"] == "паспорт.pdf" and stored["size"] == 13
    path = runtime.settings.attachments_dir / stored["stored_key"]
    assert path.read_bytes() == b"%PDF-1.4 scan"
    view = client.get(f"/api/v1/messages/{mid}/conversation?{keyed(runtime, mid)}").json()
    assert view["entries"][-1]["attachments"] == [{"name": "паспорт.pdf", "size": 13}]
    forged = client.post(
        f"/api/v1/messages/{mid}/replies?{keyed(runtime, mid)}",
        json={"text": "ещё", "attachments": ["eyJrIjoiYWIvYWIifQ.0000"]},
    )
    assert forged.status_code == 422


def test_the_web_form_answer_carries_the_status_page_link(
    client: TestClient, runtime: Runtime
) -> None:
    answer = client.post(
        "/api/v1/intake/webform", json={"name": "Анна", "email": ANNA, "text": "Нужна справка"}
    ).json()
    mid = answer["message_id"]
    assert answer["status_page_url"] == f"http://testserver/?m={mid}&{keyed(runtime, mid)}"
    assert "follow.js" in client.get(answer["status_page_url"]).text


def test_a_plain_web_form_naming_the_number_still_opens_a_ticket_of_its_own(
    client: TestClient, runtime: Runtime
) -> None:
    """Only a proven reply threads: the public form cannot join someone's ticket by number."""
    mid = submit(runtime, "conv-own")
    number = number_of(runtime, mid)
    client.post(
        "/api/v1/intake/webform",
        json={"name": "Eve", "email": "eve@corp.example.com", "subject": number, "text": "hi"},
    )
    drain(runtime)
    with runtime.sessions() as session:
        assert len(session.scalars(select(Ticket)).all()) == 2


# --- My requests ---------------------------------------------------------------------------


def add_employee(runtime: Runtime, email_: str, *, phone: str | None = None, chat: str = "") -> int:
    with runtime.sessions() as session:
        person = Employee(email=email_, name="Anna", phone=phone, language="en", active=True)
        session.add(person)
        session.flush()
        if chat:
            session.add(EmployeeAddress(employee_id=person.id, channel="telegram", address=chat))
        session.commit()
        return person.id


def made(runtime: Runtime, channel: str, address: str, subject: str) -> str:
    with runtime.sessions() as session:
        ticket = make_ticket(session, channel=channel, requester=address, subject=subject)
        session.commit()
        return ticket.number or ""


def sign_in_mail(runtime: Runtime, address: str) -> str | None:
    with runtime.sessions() as session:
        row = session.scalar(
            select(NotificationRow)
            .where(NotificationRow.recipient == address, NotificationRow.ticket_id.is_(None))
            .order_by(NotificationRow.id.desc())
            .limit(1)
        )
        if row is None:
            return None
        found = SIGN_IN_LINK.search(row.text)
        return found.group(0) if found else None


def signed_in(client: TestClient, runtime: Runtime, address: str) -> TestClient:
    assert client.post("/api/v1/portal/sign-in", json={"email": address}).status_code == 202
    link = sign_in_mail(runtime, address)
    assert link is not None
    path = link.replace(runtime.settings.public_url, "")
    assert 'method="post"' in client.get(path).text  # the page posts at once
    answer = client.post(path, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/my"
    return client


def test_sign_in_answers_the_same_for_known_and_unknown_addresses(
    client: TestClient, runtime: Runtime
) -> None:
    add_employee(runtime, ANNA)
    known = client.post("/api/v1/portal/sign-in", json={"email": ANNA.upper()})
    unknown = client.post("/api/v1/portal/sign-in", json={"email": "nobody@corp.example.com"})
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.status_code == 202
    assert sign_in_mail(runtime, ANNA) is not None
    assert sign_in_mail(runtime, "nobody@corp.example.com") is None


def test_a_requester_seen_before_may_sign_in_too(client: TestClient, runtime: Runtime) -> None:
    submit(runtime, "seen-before", sender="guest@partner.example.org")
    client.post("/api/v1/portal/sign-in", json={"email": "guest@partner.example.org"})
    assert sign_in_mail(runtime, "guest@partner.example.org") is not None


def test_the_link_works_once_is_stored_hashed_and_sets_a_strict_cookie(
    client: TestClient, runtime: Runtime
) -> None:
    add_employee(runtime, ANNA)
    client.post("/api/v1/portal/sign-in", json={"email": ANNA})
    link = sign_in_mail(runtime, ANNA)
    assert link is not None
    token = link.rsplit("/", 1)[1]
    with runtime.sessions() as session:
        stored = session.scalars(select(PortalSignIn.token_hash)).all()
    assert token not in stored and portal_sign_in.token_hash(token) in stored

    for _ in range(3):  # a mail scanner's or preview's GETs spend nothing
        assert "set-cookie" not in client.get(f"/my/sign-in/{token}").headers
    first = client.post(f"/my/sign-in/{token}", follow_redirects=False)
    cookie = first.headers["set-cookie"]
    assert first.headers["location"] == "/my"
    assert "okno_portal=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Max-Age=" in cookie

    other = TestClient(create_app(runtime))
    second = other.post(f"/my/sign-in/{token}", follow_redirects=False)
    assert second.headers["location"] == "/my?link=expired"
    assert "set-cookie" not in second.headers
    assert other.get("/api/v1/portal/tickets").status_code == 401


def test_an_expired_link_signs_nobody_in(client: TestClient, runtime: Runtime) -> None:
    add_employee(runtime, ANNA)
    client.post("/api/v1/portal/sign-in", json={"email": ANNA})
    link = sign_in_mail(runtime, ANNA)
    assert link is not None
    with runtime.sessions() as session:
        session.execute(update(PortalSignIn).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    path = link.replace(runtime.settings.public_url, "")
    answer = client.post(path, follow_redirects=False)
    assert answer.headers["location"] == "/my?link=expired"
    assert client.get("/api/v1/portal/me").status_code == 401


def test_a_forged_or_expired_cookie_is_no_session(runtime: Runtime) -> None:
    key = runtime.secret_key
    good = portal_sign_in.encode(key, portal_sign_in.new_session(ANNA))
    assert portal_sign_in.decode(key, good) is not None
    assert portal_sign_in.decode(b"another key", good) is None
    assert portal_sign_in.decode(key, good.replace(".", "x.", 1)) is None
    old = portal_sign_in.encode(key, portal_sign_in.new_session(ANNA, hours=-1))
    assert portal_sign_in.decode(key, old) is None


def test_my_requests_lists_tickets_of_every_channel_and_hides_other_peoples(
    client: TestClient, runtime: Runtime
) -> None:
    add_employee(runtime, ANNA, phone=PHONE, chat=CHAT)
    add_employee(runtime, BORIS)
    submit(runtime, "web-1")
    submit(runtime, "mail-1", channel=Channel.email, sender=ANNA)
    # Chat and call tickets made directly: the pipeline would try to answer in the chat.
    made(runtime, "telegram", CHAT, "Отпуск с 10 марта")
    made(runtime, "phone", PHONE, "Справка по звонку")
    boris = number_of(runtime, submit(runtime, "boris-1", sender=BORIS))

    signed_in(client, runtime, ANNA)
    listed = client.get("/api/v1/portal/tickets").json()["tickets"]

    assert sorted(t["channel"] for t in listed) == ["email", "phone", "telegram", "webform"]
    assert all(t["status"] and t["due_at"] and t["team"]["code"] == "hr" for t in listed)
    assert boris not in {t["number"] for t in listed}
    assert client.get(f"/api/v1/portal/tickets/{boris}").status_code == 404
    assert client.get("/api/v1/portal/tickets/OKNO-999999").status_code == 404
    mine = client.get(f"/api/v1/portal/tickets/{listed[0]['number']}").json()
    assert mine["entries"][0]["who"] == "requester"
    me = client.get("/api/v1/portal/me").json()
    assert me["email"] == ANNA and me["language"] == "en"


def test_reply_and_rate_from_my_requests(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    add_employee(runtime, ANNA)
    number = number_of(runtime, submit(runtime, "my-reply"))
    signed_in(client, runtime, ANNA)
    csrf = client.get("/api/v1/portal/me").json()["csrf"]
    url = f"/api/v1/portal/tickets/{number}/replies"

    assert client.post(url, json={"text": "Срочно!"}).status_code == 403  # no CSRF header
    assert (
        client.post(url, json={"text": "Срочно!"}, headers={"X-CSRF-Token": "x"}).status_code == 403
    )
    answer = client.post(url, json={"text": "Нужна к среде."}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 202
    drain(runtime)
    view = client.get(f"/api/v1/portal/tickets/{number}").json()
    assert view["entries"][-1]["text"] == "Нужна к среде."

    resolve(runtime, staff, number, "Готово.")
    view = client.get(f"/api/v1/portal/tickets/{number}").json()
    tap = view["rating_urls"]["4"].replace(runtime.settings.public_url, "")
    assert client.get(tap).status_code == 200
    with runtime.sessions() as session:
        assert session.scalar(select(Feedback.rating)) == 4
    assert client.get(f"/api/v1/portal/tickets/{number}").json()["rating"] == 4


def test_a_person_who_left_the_directory_is_signed_out(
    client: TestClient, runtime: Runtime
) -> None:
    add_employee(runtime, ANNA)
    submit(runtime, "before-leaving")  # a requester seen before, too
    signed_in(client, runtime, ANNA)
    with runtime.sessions() as session:
        session.execute(update(Employee).values(active=False))
        session.commit()
    assert client.get("/api/v1/portal/tickets").status_code == 401
    client.post("/api/v1/portal/sign-in", json={"email": ANNA})
    with runtime.sessions() as session:
        assert len(session.scalars(select(PortalSignIn)).all()) == 1  # no new link


def test_sign_out_ends_the_session(client: TestClient, runtime: Runtime) -> None:
    add_employee(runtime, ANNA)
    signed_in(client, runtime, ANNA)
    assert client.get("/api/v1/portal/me").status_code == 200
    answer = client.post("/api/v1/portal/sign-out")
    assert answer.status_code == 204 and 'okno_portal=""' in answer.headers["set-cookie"]
    assert client.get("/api/v1/portal/me").status_code == 401


def test_sign_in_is_rate_limited_without_telling_who_is_known(
    client: TestClient, runtime: Runtime
) -> None:
    add_employee(runtime, ANNA)
    answers = [client.post("/api/v1/portal/sign-in", json={"email": ANNA}) for _ in range(5)]
    assert {a.status_code for a in answers} == {202}
    with runtime.sessions() as session:
        mails = session.scalars(
            select(NotificationRow).where(NotificationRow.recipient == ANNA)
        ).all()
    assert len(mails) == 3  # the address's limit: no more mail, the same answer
    for i in range(30):
        last = client.post("/api/v1/portal/sign-in", json={"email": f"x{i}@corp.example.com"})
    assert last.status_code == 429 and int(last.headers["Retry-After"]) > 0


def test_the_sign_in_mail_reaches_a_real_smtp_server(
    relay: Relay, client: TestClient, runtime: Runtime
) -> None:
    add_employee(runtime, ANNA)
    client.post("/api/v1/portal/sign-in", json={"email": ANNA})
    drain(runtime)

    assert len(relay.messages) == 1
    mail = relay.messages[0]
    assert mail["To"] == ANNA and "My requests" in str(mail["Subject"])
    link = SIGN_IN_LINK.search(relay.text())
    assert link is not None
    answer = client.post(link.group(0).replace(runtime.settings.public_url, ""))
    assert answer.status_code == 200 and "follow.js" in answer.text  # landed on /my
    assert client.get("/api/v1/portal/me").json()["email"] == ANNA


# --- Cancelling from the follow page ------------------------------------------------------------


def submit_onboarding(client: TestClient, runtime: Runtime, key: str) -> tuple[int, str]:
    """A portal request for a new hire (a process); its message id and the status link's key."""
    form = {
        "name": "Анна",
        "email": ANNA,
        "text": "С понедельника выходит новый менеджер, Иван Сидоров.",
        "service_code": "hr_onboarding",
        "submission_id": key,
    }
    accepted = client.post("/api/v1/intake/webform", json=form)
    assert accepted.status_code == 202, accepted.text
    drain(runtime)
    return accepted.json()["message_id"], accepted.json()["status_url"].rsplit("key=", 1)[1]


def test_can_cancel_follows_the_cancel_endpoints_rule(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    plain = submit(runtime, "plain-cancel")
    url = f"/api/v1/messages/{plain}/conversation?{keyed(runtime, plain)}"
    view = client.get(url).json()
    assert view["can_cancel"] is True and view["steps"] == []
    resolve(runtime, staff, number_of(runtime, plain), "Готово.")
    resolved = client.get(url).json()
    assert resolved["can_cancel"] is False and resolved["version"] != view["version"]
    cancel = f"/api/v1/messages/{plain}/cancel?{keyed(runtime, plain)}"
    assert client.post(cancel).json()["error"] == "not_cancellable"  # the same rule says no

    duplicate, kept = submit(runtime, "dup-cancel"), submit(runtime, "kept-cancel")
    with runtime.sessions() as session:
        moves.merge(
            session=session,
            ticket_number=number_of(runtime, duplicate),
            into_number=number_of(runtime, kept),
            user_id=staff.hr.id,
        )
        session.commit()
    merged = client.get(f"/api/v1/messages/{duplicate}/conversation?{keyed(runtime, duplicate)}")
    assert merged.json()["number"] == number_of(runtime, kept)  # the link follows the merge
    assert merged.json()["can_cancel"] is False  # but it would cancel the closed duplicate
    assert client.get(f"/api/v1/messages/{kept}/conversation?{keyed(runtime, kept)}").json()[
        "can_cancel"
    ]

    message_id, key = submit_onboarding(client, runtime, "onboarding-view")
    process = client.get(f"/api/v1/messages/{message_id}/conversation?key={key}").json()
    assert process["can_cancel"] is True
    assert [s["stage"] for s in process["steps"]] == [0, 1, 1, 1, 1]
    assert [s["status"] for s in process["steps"]] == ["new"] + ["planned"] * 4
    assert process["steps"][0]["service"]["code"] == "hr_onboarding"
    assert process["steps"][0]["status_name"]["ru"]
    with runtime.sessions() as session:  # a step is cancelled only with its process
        step = session.scalar(select(Ticket).where(Ticket.number == process["steps"][0]["number"]))
        assert step is not None and not process_cancel.cancellable(step, session=session)


def test_my_requests_cancels_a_process_with_its_steps(client: TestClient, runtime: Runtime) -> None:
    add_employee(runtime, ANNA)
    add_employee(runtime, BORIS)
    boris = number_of(runtime, submit(runtime, "boris-cancel", sender=BORIS))
    message_id, _key = submit_onboarding(client, runtime, "onboarding-my")
    number = number_of(runtime, message_id)
    signed_in(client, runtime, ANNA)
    csrf = {"X-CSRF-Token": client.get("/api/v1/portal/me").json()["csrf"]}
    url = f"/api/v1/portal/tickets/{number}/cancel"
    assert client.get(f"/api/v1/portal/tickets/{number}").json()["can_cancel"] is True

    assert client.post(url, json={"reason": "передумали"}).status_code == 403  # no CSRF header
    bad = client.post(url, json={"reason": "x"}, headers={"X-CSRF-Token": "x"})
    assert bad.status_code == 403 and bad.json()["error"] == "bad_csrf"
    other = client.post(f"/api/v1/portal/tickets/{boris}/cancel", headers=csrf)
    assert other.status_code == 404  # another person's request is as good as absent
    with runtime.sessions() as session:
        assert session.scalar(select(Ticket.status).where(Ticket.number == boris)) == "new"
        assert session.scalar(select(Ticket.status).where(Ticket.number == number)) == "new"

    done = client.post(url, json={"reason": "кандидат отказался"}, headers=csrf)
    assert done.status_code == 200, done.text
    assert done.json()["ticket"] == number and done.json()["status"] == "closed"
    assert len(done.json()["stopped"]) == 5
    with runtime.sessions() as session:
        kids = session.scalars(select(Ticket).where(Ticket.parent_id.is_not(None))).all()
    assert {k.status for k in kids} == {"closed"}
    assert all("кандидат отказался" in (k.resolution or "") for k in kids)
    view = client.get(f"/api/v1/portal/tickets/{number}").json()
    assert view["can_cancel"] is False and view["final"] is True
    assert {s["status"] for s in view["steps"]} == {"closed"}
    assert view["rating_urls"] is None  # cancelled, not solved: nothing to rate
    again = client.post(url, headers=csrf)
    assert again.status_code == 409 and again.json()["error"] == "not_cancellable"
