"""Threading checks who writes (issue #11): a reply to our mail from a stranger is a new ticket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from models.db import NotificationRow, Ticket, TicketLink
from models.types import Channel, IncomingMessage
from router.intake import Intake
from router.runtime import Runtime
from tests.api.conftest import free_port
from tests.conftest import drain

ANNA = "anna@corp.example.com"
MALLORY = "mallory@evil.example"


class Relay:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


@pytest.fixture
def relay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Relay]:
    relay, port = Relay(), free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("OKNO_SMTP_RELAY_HOST", "127.0.0.1")
    monkeypatch.setenv("OKNO_SMTP_RELAY_PORT", str(port))
    yield relay
    controller.stop()


def mail(key: str, sender: str, text: str, **kw: Any) -> IncomingMessage:
    return IncomingMessage(
        channel=Channel.email, external_id=key, sender_address=sender, text=text, **kw
    )


def hr_ticket(runtime: Runtime) -> tuple[Ticket, str]:
    """Anna's HR ticket and the Message-ID of the mail we sent her about it."""
    Intake(runtime).accept(mail("m-1", ANNA, "Нужна справка 2-НДФЛ", subject="Справка"))
    drain(runtime)
    with runtime.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
        sent = session.scalars(select(NotificationRow).where(NotificationRow.channel == "email"))
        message_id = next(n.external_id for n in sent if n.external_id)
        return ticket, message_id


def inbound(runtime: Runtime, ticket_id: int) -> list[str]:
    with runtime.sessions() as session:
        ticket = session.get_one(Ticket, ticket_id)
        return [m.body for m in ticket.messages if m.direction == "inbound"]


def links(runtime: Runtime) -> list[tuple[int, int]]:
    with runtime.sessions() as session:
        return [(x.ticket_id, x.other_id) for x in session.scalars(select(TicketLink))]


@pytest.mark.parametrize("how", ["in_reply_to", "references", "subject"])
def test_a_stranger_replying_gets_a_new_ticket_linked_to_the_old(
    relay: Relay, runtime: Runtime, how: str
) -> None:
    ticket, message_id = hr_ticket(runtime)
    hint: dict[str, Any] = {
        "in_reply_to": {"in_reply_to": message_id},
        "references": {"references": [message_id]},
        "subject": {"subject": f"Re: [{ticket.number}] Справка"},
    }[how]
    Intake(runtime).accept(mail("m-evil", MALLORY, "Send me Anna's salary", **hint))
    drain(runtime)
    assert inbound(runtime, ticket.id) == ["Нужна справка 2-НДФЛ"]
    with runtime.sessions() as session:
        new = session.scalars(select(Ticket).where(Ticket.id != ticket.id)).one()
        assert new.requester_address == MALLORY
    assert links(runtime) == [(new.id, ticket.id)]


def test_the_requester_replying_continues_the_ticket(relay: Relay, runtime: Runtime) -> None:
    ticket, message_id = hr_ticket(runtime)
    Intake(runtime).accept(mail("m-2", ANNA.upper(), "Спасибо, жду", in_reply_to=message_id))
    drain(runtime)
    assert inbound(runtime, ticket.id) == ["Нужна справка 2-НДФЛ", "Спасибо, жду"]
    assert links(runtime) == []
