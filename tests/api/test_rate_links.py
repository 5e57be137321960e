"""One-tap ratings (issue #17): links on e-mail, SMS and the portal, and an e-mail reply "5"."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from models.db import Feedback, InboundMessage, NotificationRow, Ticket, TicketEvent
from models.types import Channel, IncomingMessage, utcnow
from router import ratings
from router.intake import Intake
from router.lifecycle import actions
from router.runtime import Runtime
from router.sends import enqueue_send
from tests.channels.phone.phone_servers import SmsGateway, hmac_header, serve_gateway
from tests.conftest import drain
from tests.support.mail import Relay
from tests.support.workflow import Staff, make_staff, make_ticket

ANNA = "anna@corp.example.com"
PHONE = "+79123456789"
SMS_SECRET = "sms-gateway-secret-8b2d6e10"
WEBHOOK_SECRET = "pbx-webhook-secret-5c1f9a7e3d"
RATE_LINK = re.compile(r"https?://[^\s<>\"]+/rate/[0-9]+\.[0-9a-f]{16}(?:/[1-5])?")


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmsGateway]:
    with serve_gateway(SmsGateway(secret=SMS_SECRET)) as gw:
        monkeypatch.setenv("OKNO_SMS_GATEWAY_URL", gw.url)
        monkeypatch.setenv("OKNO_SMS_GATEWAY_SECRET", SMS_SECRET)
        monkeypatch.setenv("OKNO_PHONE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        yield gw


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


def resolved(runtime: Runtime, staff: Staff, *, channel: str, requester: str) -> int:
    """An hr ticket resolved by a specialist, its resolution notice sent; the ticket's id."""
    with runtime.sessions() as session:
        ticket = make_ticket(session, channel=channel, requester=requester)
        out = actions.resolve(
            session=session,
            ticket_number=ticket.number or "",
            user_id=staff.hr.id,
            resolution="Справка готова, заберите в отделе кадров.",
        )
        session.commit()
        ticket_id = ticket.id
    enqueue_send(runtime, out.notification_ids)
    drain(runtime)
    return ticket_id


def feedback(runtime: Runtime, ticket_id: int) -> tuple[int | None, str | None, list[str]]:
    """The rating, its comment and the ticket's feedback events (their to_values)."""
    with runtime.sessions() as session:
        row = session.scalar(select(Feedback).where(Feedback.ticket_id == ticket_id))
        events = session.scalars(
            select(TicketEvent.to_value).where(
                TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "feedback"
            )
        )
        return (row.rating if row else None), (row.comment if row else None), list(events)


def path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_one_tap_on_the_resolution_mail_rates_and_a_repeat_changes_nothing(
    relay: Relay, runtime: Runtime, staff: Staff, client: TestClient
) -> None:
    ticket_id = resolved(runtime, staff, channel="email", requester=ANNA)
    links = RATE_LINK.findall(relay.text())
    assert [link[-1] for link in links] == ["5", "4", "3", "2", "1"]
    five = path(links[0])
    first = client.get(five)
    assert first.status_code == 200 and "5 из 5" in first.text and "<textarea" in first.text
    client.get(five)  # the mail client's prefetch, then the person's own tap
    assert feedback(runtime, ticket_id) == (5, None, ["5"])
    client.get(path(links[1]))  # changed their mind: the last tap wins
    assert feedback(runtime, ticket_id) == (4, None, ["5", "4"])
    answer = client.post(path(links[1]), data={"comment": "Быстро, спасибо"})
    assert answer.status_code == 200 and "записан" in answer.text
    assert feedback(runtime, ticket_id) == (4, "Быстро, спасибо", ["5", "4", "4"])


def test_a_forged_or_expired_link_rates_nothing(
    relay: Relay, runtime: Runtime, staff: Staff, client: TestClient
) -> None:
    ticket_id = resolved(runtime, staff, channel="email", requester=ANNA)
    good = ratings.token(runtime.secret_key, ticket_id)
    other = ratings.token(b"another-secret-of-at-least-32-bytes!!", ticket_id)
    assert client.get(f"/rate/{other}/5").status_code == 404
    assert client.get(f"/rate/{ticket_id + 1}.{good.split('.')[1]}/5").status_code == 404
    with runtime.sessions() as session:
        ticket = session.get_one(Ticket, ticket_id)
        ticket.resolved_at = utcnow() - timedelta(days=runtime.settings.reopen_grace_days + 1)
        session.commit()
    assert client.get(f"/rate/{good}/5").status_code == 404
    assert feedback(runtime, ticket_id) == (None, None, [])


def test_the_sms_carries_one_short_link_to_five_one_tap_links(
    gateway: SmsGateway, runtime: Runtime, staff: Staff, client: TestClient
) -> None:
    ticket_id = resolved(runtime, staff, channel="phone", requester=PHONE)
    parts = [r.json["text"] for r in gateway.received]
    assert all(part.startswith(f"({k}/{len(parts)}) ") for k, part in enumerate(parts, 1))
    (page,) = RATE_LINK.findall(" ".join(parts))
    assert page.endswith(ratings.token(runtime.secret_key, ticket_id))
    choose = client.get(path(page))
    assert choose.status_code == 200
    taps = re.findall(r'href="(/rate/[^"]+/[1-5])"', choose.text)
    assert len(taps) == 5
    assert client.get(taps[1]).status_code == 200  # "2"
    assert feedback(runtime, ticket_id) == (2, None, ["2"])


def test_the_portal_status_shows_the_rating_links(
    relay: Relay, runtime: Runtime, staff: Staff, client: TestClient
) -> None:
    sent = client.post(
        "/api/v1/intake/webform",
        json={"name": "Анна", "email": ANNA, "text": "Нужна справка с места работы"},
    ).json()
    drain(runtime)
    with runtime.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
        number, ticket_id = ticket.number or "", ticket.id
        out = actions.resolve(
            session=session, ticket_number=number, user_id=staff.admin.id, resolution="Готово"
        )
        session.commit()
    enqueue_send(runtime, out.notification_ids)
    drain(runtime)
    status = client.get(path(sent["status_url"])).json()
    assert set(status["rating_urls"]) == {"1", "2", "3", "4", "5"}
    assert client.get(path(status["rating_urls"]["3"])).status_code == 200
    assert feedback(runtime, ticket_id) == (3, None, ["3"])


@pytest.mark.parametrize("reply", ["5", "5 stars", "оценка 5", "5 звёзд", "Оценка: 5!"])
def test_a_mail_reply_that_is_only_a_rating_rates_instead_of_reopening(
    relay: Relay, runtime: Runtime, staff: Staff, reply: str
) -> None:
    ticket_id = resolved(runtime, staff, channel="email", requester=ANNA)
    with runtime.sessions() as session:
        notice = session.scalars(
            select(NotificationRow).where(NotificationRow.ticket_id == ticket_id)
        ).one()
        message_id = notice.external_id
    answer = IncomingMessage(
        channel=Channel.email,
        external_id="reply-1",
        sender_address=ANNA,
        subject="Re: Справка",
        text=reply,
        in_reply_to=message_id,
    )
    Intake(runtime).accept(answer)
    drain(runtime)
    with runtime.sessions() as session:
        assert session.get_one(Ticket, ticket_id).status == "resolved"
        assert session.scalars(select(InboundMessage.ticket_id)).all() == [ticket_id]
    assert feedback(runtime, ticket_id) == (5, None, ["5"])


def test_a_reply_with_words_still_reopens(relay: Relay, runtime: Runtime, staff: Staff) -> None:
    ticket_id = resolved(runtime, staff, channel="email", requester=ANNA)
    with runtime.sessions() as session:
        notice = session.scalars(select(NotificationRow)).one()
        message_id = notice.external_id
    answer = IncomingMessage(
        channel=Channel.email,
        external_id="reply-2",
        sender_address=ANNA,
        text="5 минут назад снова сломалось",
        in_reply_to=message_id,
    )
    Intake(runtime).accept(answer)
    drain(runtime)
    with runtime.sessions() as session:
        assert session.get_one(Ticket, ticket_id).status == "new"
    assert feedback(runtime, ticket_id) == (None, None, [])


def test_a_low_rating_tells_the_team_lead(
    relay: Relay, runtime: Runtime, staff: Staff, client: TestClient
) -> None:
    ticket_id = resolved(runtime, staff, channel="email", requester=ANNA)
    token = ratings.token(runtime.secret_key, ticket_id)
    client.get(f"/rate/{token}/1")
    client.get(f"/rate/{token}/2")  # still low: the lead heard already
    drain(runtime)
    to_lead = [m for m in relay.messages if m["To"] == staff.lead.email]
    assert len(to_lead) == 1
    assert "1 из 5" in str(to_lead[0].get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]


def test_an_sms_reply_with_a_digit_rates_the_last_ticket_resolved_by_sms(
    gateway: SmsGateway, runtime: Runtime, staff: Staff, client: TestClient
) -> None:
    ticket_id = resolved(runtime, staff, channel="phone", requester=PHONE)
    body = json.dumps({"message_id": "in-1", "from": "8 912 345-67-89", "text": "5"}).encode()
    unsigned = client.post("/api/v1/intake/sms", content=body)
    assert unsigned.status_code == 401
    signed = {
        "X-Okno-Signature": hmac_header(WEBHOOK_SECRET, body),
        "Content-Type": "application/json",
    }
    answer = client.post("/api/v1/intake/sms", content=body, headers=signed)
    assert answer.status_code == 202, answer.text
    drain(runtime)
    assert feedback(runtime, ticket_id) == (5, None, ["5"])
    with runtime.sessions() as session:
        assert session.get_one(Ticket, ticket_id).status == "resolved"
        assert len(session.scalars(select(Ticket)).all()) == 1
