"""The per-recipient loop cap counts deliveries to a mailbox, not the portal's status rows."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from models.db import NotificationRow
from models.types import Channel, IncomingMessage
from router.intake import Intake
from router.runtime import Runtime
from tests.conftest import drain


class Sink:
    def __init__(self) -> None:
        self.mails = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails += 1
        return "250 OK"


@pytest.fixture
def relay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sink]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("OKNO_SMTP_RELAY_HOST", "127.0.0.1")
    monkeypatch.setenv("OKNO_SMTP_RELAY_PORT", str(port))
    yield sink
    controller.stop()


def test_portal_rows_do_not_eat_the_mail_cap(runtime: Runtime, relay: Sink) -> None:
    runtime.settings.notify_cap_per_hour = 20
    intake = Intake(runtime)
    for i in range(22):
        intake.accept(
            IncomingMessage(
                channel=Channel.webform,
                external_id=f"form-{i}",
                sender_address="ivan@corp.example.com",
                subject=f"Справка {i}",
                text="Нужна справка с места работы",
                service_hint="hr_certificate",
            )
        )
    drain(runtime)
    with runtime.sessions() as session:
        rows = session.execute(select(NotificationRow.channel, NotificationRow.status)).all()
    portal = [status for channel, status in rows if channel == "webform"]
    mail = [status for channel, status in rows if channel == "email"]
    assert portal.count("sent") == 22  # the status page is not a mailbox: never capped
    assert mail.count("sent") == 20 and relay.mails == 20
    assert mail.count("suppressed") == 2


def test_notification_cap_breaks_mail_loops(runtime: Runtime, relay: Sink) -> None:
    runtime.settings.notify_cap_per_hour = 2
    intake = Intake(runtime)
    for i in range(3):
        intake.accept(
            IncomingMessage(
                channel=Channel.email,
                external_id=f"loop-{i}",
                sender_address="robot@corp.example.com",
                subject=f"Loop {i}",
                text="Нужна справка с места работы",
                service_hint="hr_certificate",
            )
        )
    drain(runtime)
    with runtime.sessions() as session:
        statuses = sorted(session.scalars(select(NotificationRow.status)))
    assert statuses == ["sent", "sent", "suppressed"] and relay.mails == 2
