"""Linking a chat to an employee: a shared contact, or a work e-mail and its one-time code."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from models.db import EmployeeAddress, InboundMessage, LinkCode, NotificationRow, Ticket
from router.actions_linking import CODE_ATTEMPTS, normalise_phone
from router.runtime import Runtime
from tests.channels.telegram.botapi_standin import BotApiStandin
from tests.channels.telegram.conftest import ANNA_CHAT, Bot, Mailbox, update, with_text


def linked(runtime: Runtime) -> list[tuple[str, int, bool, bool]]:
    with runtime.sessions() as session:
        rows = session.scalars(select(EmployeeAddress)).all()
        return [(a.address, a.employee_id, a.verified, a.unreachable) for a in rows]


def inbound(runtime: Runtime) -> list[tuple[str, str | None]]:
    with runtime.sessions() as session:
        return [(r.status, r.error) for r in session.scalars(select(InboundMessage))]


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("79161234567", "+79161234567"),
        ("+7 (916) 123-45-67", "+79161234567"),
        ("8 916 123 45 67", "+79161234567"),
        ("9161234567", "+79161234567"),
        ("4951234567", "+74951234567"),  # a Moscow landline: the phone channel's rule, not +495...
        ("+44 20 7946 0958", "+442079460958"),
        ("12345", None),
        ("", None),
    ],
)
def test_phone_normalisation(raw: str, e164: str | None) -> None:
    assert normalise_phone(raw) == e164


def test_someone_elses_contact_is_not_a_link(
    bot: Bot, standin: BotApiStandin, runtime: Runtime, anna: int
) -> None:
    bot.receive(update("contact_foreign.json"))
    assert standin.transcript(ANNA_CHAT) == [
        "Пожалуйста, поделитесь своим номером — кнопкой «Поделиться номером»."
    ]
    assert linked(runtime) == [] and inbound(runtime) == []


def test_unknown_phone_is_refused_and_explained(
    bot: Bot, standin: BotApiStandin, runtime: Runtime
) -> None:
    bot.receive(update("contact_own.json"))  # nobody in the directory has this number
    assert standin.transcript(ANNA_CHAT)[-1].startswith("Этого номера нет в справочнике")
    assert inbound(runtime) == [
        ("rejected", "link_phone: no employee has the phone '+79161234567'")
    ]
    assert linked(runtime) == []


def test_linking_replies_go_through_the_outbox(
    bot: Bot, standin: BotApiStandin, runtime: Runtime, anna: int
) -> None:
    """Written with the link, sent by the notify job: a reply that fails is retried, not lost."""
    bot.receive(update("contact_own.json"))
    assert standin.transcript(ANNA_CHAT)[-1].startswith("Готово, Анна Петрова!")
    with runtime.sessions() as session:
        rows = session.scalars(select(NotificationRow)).all()
        assert [(r.ticket_id, r.channel, r.kind, r.status) for r in rows] == [
            (None, "telegram", "info", "sent")
        ]


def test_email_code_links_the_chat(
    bot: Bot, standin: BotApiStandin, runtime: Runtime, anna: int, mailbox: Mailbox
) -> None:
    bot.receive(update("email.json"))
    assert standin.transcript(ANNA_CHAT)[-1] == (
        "Отправил код на a.petrova@corp.example.com. Пришлите его сюда — он действует 15 минут."
    )
    (mail,) = mailbox.messages
    assert mail["To"] == "a.petrova@corp.example.com"
    assert mail["Subject"] == "Код подтверждения для Telegram-бота «Окно»"
    code = re.search(r"\b(\d{6})\b", mail.get_body(("plain",)).get_content())
    assert code is not None

    bot.receive(with_text(update("code.json"), code.group(1)))
    assert standin.transcript(ANNA_CHAT)[-1].startswith("Готово, Анна Петрова!")
    assert linked(runtime) == [(str(ANNA_CHAT), anna, True, False)]
    with runtime.sessions() as session:
        assert session.scalars(select(LinkCode)).one().used_at is not None

    # From now on her requests carry her name and are verified.
    bot.receive(update("text_request.json"))
    with runtime.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
    assert ticket.requester_id == anna and ticket.requester_verified
    assert "unverified requester" not in ticket.notes

    # /start again: she is known now.
    again = update("start.json")
    bot.receive({**again, "update_id": again["update_id"] + 100})
    assert standin.transcript(ANNA_CHAT)[-1].startswith("С возвращением, Анна Петрова!")


def test_wrong_codes_run_out(
    bot: Bot, standin: BotApiStandin, runtime: Runtime, anna: int, mailbox: Mailbox
) -> None:
    bot.receive(update("email.json"))
    wrong = update("code.json")
    for attempt in range(1, CODE_ATTEMPTS + 1):
        bot.receive(with_text(wrong, "000000", update_id=wrong["update_id"] + attempt))
        wrong["message"]["message_id"] += 1
    said = standin.transcript(ANNA_CHAT)
    assert said[1] == "Код не подошёл. Осталось попыток: 4."
    assert said[-1].startswith("Код устарел или попытки закончились.")
    assert linked(runtime) == []
    # Out of attempts, six digits are an ordinary request again (no code is outstanding).
    bot.receive(with_text(wrong, "123456", update_id=wrong["update_id"] + 99))
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(Ticket.id))) == 1


def test_unknown_email_is_explained(bot: Bot, standin: BotApiStandin, runtime: Runtime) -> None:
    bot.receive(update("email.json"))
    assert standin.transcript(ANNA_CHAT)[-1] == (
        "Адреса a.petrova@corp.example.com нет в справочнике сотрудников. "
        "Проверьте его или поделитесь номером телефона."
    )
    assert linked(runtime) == []


def test_unlinked_user_can_still_ask(bot: Bot, standin: BotApiStandin, runtime: Runtime) -> None:
    bot.receive(update("text_request.json"))
    with runtime.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
    assert ticket.requester_id is None and not ticket.requester_verified
    assert "unverified requester" in ticket.notes
    assert ticket.requester_address == str(ANNA_CHAT)
    assert ticket.requester_name == "Анна Петрова"
    assert standin.transcript(ANNA_CHAT)[0].startswith("Ваше обращение зарегистрировано")


def test_blocking_the_bot_marks_the_chat_unreachable(bot: Bot, runtime: Runtime, anna: int) -> None:
    bot.receive(update("contact_own.json"))
    kicked = update("kicked.json")
    bot.receive(kicked)
    assert linked(runtime) == [(str(ANNA_CHAT), anna, True, True)]
    back = {**kicked, "update_id": kicked["update_id"] + 1}
    back["my_chat_member"] = {
        **kicked["my_chat_member"],
        "new_chat_member": {**kicked["my_chat_member"]["new_chat_member"], "status": "member"},
    }
    bot.receive(back)
    assert linked(runtime) == [(str(ANNA_CHAT), anna, True, False)]
