"""E-mail end to end through the real pipeline: swaks and Dovecot in, a local SMTP sink out."""

from __future__ import annotations

import email
import email.policy
import shutil
import smtplib
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from channels.email.imap_poller import ImapPoller
from channels.email.settings import ImapMailbox, load_email_settings
from channels.email.smtp_server import make_controller
from models.db import NotificationRow, Ticket
from models.types import Channel, IncomingMessage
from router.intake import Intake
from router.runtime import Runtime
from tests.conftest import drain
from tests.support.mail import HELPDESK, Dovecot, Relay, free_port, relaying


@pytest.fixture
def sink() -> Iterator[Relay]:
    with relaying() as box:
        yield box


@pytest.fixture
def smtp_port(runtime: Runtime, sink: Relay) -> Iterator[int]:
    port = free_port()
    controller = make_controller(
        Intake(runtime), load_email_settings(), host="127.0.0.1", port=port
    )
    controller.start()
    yield port
    controller.stop()


def tickets(runtime: Runtime) -> list[Ticket]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def swaks(port: int, *args: str) -> None:
    if shutil.which("swaks") is None:
        pytest.skip("swaks is not installed (scripts/setup-system-deps.sh installs it)")
    subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{port}", "--to", HELPDESK, *args],
        check=True,
        capture_output=True,
        timeout=30,
    )


def reply_to(original: email.message.Message, body: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Иван Петров <ivan@corp.example.com>"
    msg["To"] = HELPDESK
    msg["Subject"] = "Re: " + str(
        email.header.make_header(email.header.decode_header(original["Subject"]))
    )
    msg["In-Reply-To"] = original["Message-ID"]
    msg["References"] = original["Message-ID"]
    msg["Message-ID"] = email.utils.make_msgid(domain="corp.example.com")
    for name, value in headers.items():
        msg[name] = value
    msg.set_content(body)
    return msg


def test_swaks_mail_becomes_ticket_reply_threads_and_ooo_does_not_loop(
    runtime: Runtime, sink: Relay, smtp_port: int
) -> None:
    swaks(
        smtp_port,
        "--from",
        "ivan@corp.example.com",
        "--header",
        "Subject: VPN не подключается",
        "--header",
        "Content-Type: text/plain; charset=utf-8",
        "--body",
        "Добрый день! С утра не подключается VPN из дома, ошибка 809.",
    )
    drain(runtime)
    (ticket,) = tickets(runtime)
    assert ticket.origin_channel == "email" and ticket.requester_address == "ivan@corp.example.com"
    (created,) = sink.messages
    assert created["To"] == "ivan@corp.example.com"
    assert created["Auto-Submitted"] == "auto-replied"
    assert ticket.number in str(
        email.header.make_header(email.header.decode_header(created["Subject"]))
    )

    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        client.send_message(reply_to(created, "Перезагрузил роутер — не помогло."))
    drain(runtime)
    assert [t.number for t in tickets(runtime)] == [ticket.number]
    with runtime.sessions() as session:
        again = session.get(Ticket, ticket.id)
        assert [m.direction for m in again.messages] == ["inbound", "inbound"]

    ooo = reply_to(created, "Я в отпуске до 10 декабря.", **{"Auto-Submitted": "auto-replied"})
    with smtplib.SMTP("127.0.0.1", smtp_port) as client:
        client.send_message(ooo)
    drain(runtime)
    assert len(tickets(runtime)) == 1
    assert len(sink.messages) == 1  # the out-of-office was kept, never answered
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(NotificationRow.id))) == 1
        kinds = [e.kind for e in session.get(Ticket, ticket.id).events]
    assert "auto_reply" in kinds


def test_mail_dropped_into_dovecot_becomes_ticket(
    runtime: Runtime, sink: Relay, dovecot: Dovecot
) -> None:
    box = ImapMailbox(
        host=dovecot.host,
        port=dovecot.port,
        user=dovecot.new_user(),
        password=dovecot.password,
        address=HELPDESK,
    )  # type: ignore[arg-type]
    mail = EmailMessage()
    mail["From"] = "Anna Smith <anna@corp.example.com>"
    mail["To"] = HELPDESK
    mail["Subject"] = "Printer on the 3rd floor"
    mail["Message-ID"] = email.utils.make_msgid(domain="corp.example.com")
    mail.set_content("The printer on the 3rd floor jams on every page.")
    with IMAPClient(box.host, port=box.port, ssl=False, timeout=10) as imap:
        imap.login(box.user, dovecot.password)
        imap.append("INBOX", mail.as_bytes())
    poller = ImapPoller(
        box,
        accept=Intake(runtime),
        sessions=runtime.sessions,
        redis=runtime.redis,
        timeout=10,
        max_bytes=1_000_000,
    )
    try:
        assert poller.poll_once() == 1
        assert poller.poll_once() == 0
    finally:
        poller.disconnect()
    drain(runtime)
    (ticket,) = tickets(runtime)
    assert ticket.language == "en" and ticket.requester_address == "anna@corp.example.com"
    (created,) = sink.messages
    assert created["To"] == "anna@corp.example.com"
    assert "registered" in created.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_web_form_requester_gets_the_mail_too(runtime: Runtime, sink: Relay) -> None:
    Intake(runtime).accept(
        IncomingMessage(
            channel=Channel.webform,
            external_id="form-1",
            sender_address="olga@corp.example.com",
            text="Нужна справка с места работы",
            service_hint="hr_certificate",
            language="ru",
        )
    )
    drain(runtime)
    with runtime.sessions() as session:
        rows = session.scalars(select(NotificationRow).order_by(NotificationRow.id)).all()
        pairs = [(n.channel, n.status) for n in rows]
    assert pairs == [("webform", "sent"), ("email", "sent")]
    (mail,) = sink.messages
    assert (
        mail["To"] == "olga@corp.example.com"
        and "Справка" in mail.get_body(("plain",)).get_content()
    )


def test_without_a_relay_mail_is_suppressed_not_failed(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OKNO_SMTP_RELAY_HOST", raising=False)
    Intake(runtime).accept(
        IncomingMessage(
            channel=Channel.email,
            external_id="m-1",
            sender_address="olga@corp.example.com",
            text="Нужна справка с места работы",
            service_hint="hr_certificate",
        )
    )
    drain(runtime)
    with runtime.sessions() as session:
        note = session.scalars(select(NotificationRow)).one()
    assert (note.status, note.error) == ("suppressed", "the email channel is not configured")
