"""Threading as people reply (issue #17): Reply All on one's own mail, a Cc'd colleague, a new topic."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from channels.email.parse import parse_email
from models.db import Ticket
from router.intake import Intake
from router.runtime import Runtime
from tests.conftest import drain
from tests.router.test_threading_sender import (  # noqa: F401 (relay is a fixture)
    ANNA,
    MALLORY,
    hr_ticket,
    inbound,
    links,
    mail,
    relay,
)

BORIS = "boris@corp.example.com"
ORIGINAL_ID = "<anna-first-mail@corp.example.com>"


def anna_opens(runtime: Runtime, cc: list[str] | None = None) -> Ticket:
    """Anna's first mail, keyed by its Message-ID as the mail channel keys it, with its Cc."""
    Intake(runtime).accept(
        mail(
            ORIGINAL_ID.strip("<>"),
            ANNA,
            "Нужна справка 2-НДФЛ",
            subject="Справка",
            meta={"message_id": ORIGINAL_ID, "cc": cc or []},
        )
    )
    drain(runtime)
    with runtime.sessions() as session:
        return session.scalars(select(Ticket)).one()


def test_a_reply_to_the_requesters_own_first_mail_threads(runtime: Runtime) -> None:
    ticket = anna_opens(runtime)
    Intake(runtime).accept(mail("m-2", ANNA, "Забыла: за 2025 год", in_reply_to=ORIGINAL_ID))
    drain(runtime)
    assert inbound(runtime, ticket.id) == ["Нужна справка 2-НДФЛ", "Забыла: за 2025 год"]
    with runtime.sessions() as session:
        assert len(session.scalars(select(Ticket)).all()) == 1


def test_a_colleague_in_cc_replying_all_threads(runtime: Runtime) -> None:
    ticket = anna_opens(runtime, cc=[BORIS])
    Intake(runtime).accept(mail("m-2", BORIS, "Мне тоже нужна копия", in_reply_to=ORIGINAL_ID))
    drain(runtime)
    assert inbound(runtime, ticket.id) == ["Нужна справка 2-НДФЛ", "Мне тоже нужна копия"]


def test_someone_not_in_cc_still_gets_a_ticket_of_their_own(runtime: Runtime) -> None:
    ticket = anna_opens(runtime, cc=[BORIS])
    Intake(runtime).accept(mail("m-2", MALLORY, "Пришлите и мне", in_reply_to=ORIGINAL_ID))
    drain(runtime)
    assert inbound(runtime, ticket.id) == ["Нужна справка 2-НДФЛ"]


def test_the_mail_parser_gives_the_cc_addresses() -> None:
    raw = (
        b"From: Anna <anna@corp.example.com>\r\nTo: help@ssc.example.com\r\n"
        b"Cc: Boris <Boris@Corp.example.com>, hr@corp.example.com\r\nSubject: x\r\n"
        b"Message-ID: <1@corp.example.com>\r\n\r\nhello\r\n"
    )
    assert parse_email(raw).to_incoming("k").meta["cc"] == [BORIS, "hr@corp.example.com"]


@pytest.mark.usefixtures("relay")
def test_a_reply_with_a_new_subject_and_no_number_is_a_new_linked_ticket(runtime: Runtime) -> None:
    ticket, message_id = hr_ticket(runtime)
    Intake(runtime).accept(
        mail("m-2", ANNA, "Не печатает принтер", subject="Принтер", in_reply_to=message_id)
    )
    drain(runtime)
    assert inbound(runtime, ticket.id) == ["Нужна справка 2-НДФЛ"]
    with runtime.sessions() as session:
        new = session.scalars(select(Ticket).where(Ticket.id != ticket.id)).one()
        assert new.requester_address == ANNA
    assert links(runtime) == [(new.id, ticket.id)]


@pytest.mark.usefixtures("relay")
def test_a_reply_keeping_the_subject_threads(runtime: Runtime) -> None:
    ticket, message_id = hr_ticket(runtime)
    Intake(runtime).accept(
        mail("m-2", ANNA, "Спасибо", subject="RE: Ответ: Справка", in_reply_to=message_id)
    )
    drain(runtime)
    assert inbound(runtime, ticket.id) == ["Нужна справка 2-НДФЛ", "Спасибо"]
    assert links(runtime) == []
