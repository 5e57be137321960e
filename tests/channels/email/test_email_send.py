"""Outbound e-mail against a local SMTP sink (an aiosmtpd server that records envelopes)."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from channels.email import parse_email
from channels.email.send import EmailSender
from channels.email.settings import EmailSettings
from models.types import Channel, Notification, NotificationKind
from tests.support.mail import HELPDESK, free_port

TEXT = "Здравствуйте!\nВаше обращение зарегистрировано: OKNO-000123.\nСтатус: https://okno.example/t/123"


class RecordingSink:
    """Accepts everything except two special recipients, and keeps what it got."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("gone@"):
            return "550 5.1.1 User unknown"
        if address.startswith("busy@"):
            return "451 4.2.1 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        return "250 OK"


@pytest.fixture
def sink() -> Iterator[tuple[RecordingSink, int]]:
    handler, port = RecordingSink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def sender_for(port: int | None) -> EmailSender:
    return EmailSender(
        EmailSettings(
            smtp_relay_host="127.0.0.1" if port else None,
            smtp_relay_port=port or 25,
            email_from="Окно SSC <helpdesk@ssc.example.com>",
            smtp_relay_timeout=5,
        )
    )


def notification(
    recipient: str = "ivan.petrov@branch.example.ru", **threading: Any
) -> Notification:
    return Notification(
        id=7,
        ticket_number="OKNO-000123",
        kind=NotificationKind.created,
        channel=Channel.email,
        recipient=recipient,
        language="ru",
        subject="Ваше обращение зарегистрировано",
        text=TEXT,
        threading=threading,
    )


def received(sink: RecordingSink) -> EmailMessage:
    [(_, _, raw)] = sink.envelopes
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_headers_threading_and_bodies(sink: tuple[RecordingSink, int]) -> None:
    handler, port = sink
    result = sender_for(port).send(
        notification(
            in_reply_to="abc@mail.example.com",
            references=["<first@x>", "abc@mail.example.com"],
            auto_submitted="auto-replied",
        )
    )
    assert result.ok and result.external_id
    mail_from, rcpt, _ = handler.envelopes[0]
    assert mail_from == HELPDESK and rcpt == ["ivan.petrov@branch.example.ru"]
    msg = received(handler)
    assert msg["Message-ID"] == result.external_id
    assert result.external_id.startswith("<okno-000123.") and result.external_id.endswith(
        "@ssc.example.com>"
    )
    assert msg["Subject"] == "[OKNO-000123] Ваше обращение зарегистрировано"
    assert msg["From"] == msg["Reply-To"] == "Окно SSC <helpdesk@ssc.example.com>"
    assert msg["In-Reply-To"] == "<abc@mail.example.com>"
    assert msg["References"] == "<first@x> <abc@mail.example.com>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Okno-Ticket"] == "OKNO-000123"
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content().replace("\r\n", "\n").strip() == TEXT.strip()
    assert "Ваше обращение зарегистрировано: OKNO-000123.<br>" in html.get_content()
    assert '<a href="https://okno.example/t/123">' in html.get_content()


def test_defaults_and_given_html(sink: tuple[RecordingSink, int]) -> None:
    handler, port = sink
    note = notification().model_copy(
        update={"html": "<p>Готово</p>", "subject": "[OKNO-000123] Решено"}
    )
    assert sender_for(port).send(note).ok
    msg = received(handler)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["In-Reply-To"] is None and msg["References"] is None
    assert msg["Subject"] == "[OKNO-000123] Решено"  # the number is not doubled
    html = msg.get_body(("html",))
    assert html is not None and html.get_content().strip() == "<p>Готово</p>"


def test_our_mail_parses_back_as_automatic_and_threaded(sink: tuple[RecordingSink, int]) -> None:
    handler, port = sink
    sender_for(port).send(notification())
    parsed = parse_email(handler.envelopes[0][2])
    assert parsed.auto_submitted and parsed.ticket_ref == "OKNO-000123"
    assert parsed.text.startswith("Здравствуйте!") and parsed.language == "ru"


def test_550_on_rcpt_is_permanent(sink: tuple[RecordingSink, int]) -> None:
    result = sender_for(sink[1]).send(notification("gone@branch.example.ru"))
    assert not result.ok and result.permanent and "550" in (result.error or "")


def test_451_on_rcpt_raises_for_a_retry(sink: tuple[RecordingSink, int]) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        sender_for(sink[1]).send(notification("busy@branch.example.ru"))


def test_connection_refused_raises() -> None:
    with pytest.raises(OSError):
        sender_for(free_port()).send(notification())


def test_no_relay_configured_is_permanent() -> None:
    result = sender_for(None).send(notification())
    assert result.model_dump() == {
        "ok": False,
        "external_id": None,
        "error": "no relay configured",
        "permanent": True,
        "unreachable": False,
    }


def test_recipient_that_is_not_an_address_is_permanent(sink: tuple[RecordingSink, int]) -> None:
    result = sender_for(sink[1]).send(notification("telegram:12345"))
    assert not result.ok and result.permanent
