"""A whole conversation, replayed against the Bot API stand-in, by polling and by webhook.

Real Update JSON goes in; intake → drain(runtime) → the telegram sender → the stand-in's
sendMessage comes out. The test reads the chat as Anna sees it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from models.db import (
    EmployeeAddress,
    Feedback,
    Service,
    Ticket,
    TicketEvent,
    User,
    UserTeam,
    session_scope,
)
from router import jobs
from router.lifecycle import actions
from router.runtime import Runtime
from tests.channels.telegram.botapi_standin import BotApiStandin
from tests.channels.telegram.conftest import (
    ANNA_CHAT,
    SECRET,
    Bot,
    pressed,
    reply_to,
    update,
    with_text,
)
from tests.conftest import drain

Deliver = Callable[[dict[str, Any]], None]


def specialist(runtime: Runtime, action: Callable[..., Any], number: str, **values: Any) -> None:
    """A specialist acts through the workflow; its notifications are enqueued after commit."""
    with session_scope(runtime.sessions) as session:
        user = session.scalar(select(User).where(User.email == "i.ivanov@ssc.example.com"))
        if user is None:
            user = User(name="Иван Иванов", email="i.ivanov@ssc.example.com", role="agent")
            session.add(user)
            session.flush()
            session.add(UserTeam(user_id=user.id, team_code="it_desk"))
        result = action(session=session, ticket_number=number, user_id=user.id, **values)
        session.flush()
        ids = [n.id for n in result.notifications]
    jobs.enqueue_send(runtime, ids)
    drain(runtime)


def button(standin: BotApiStandin, label: str) -> tuple[str, int]:
    """The callback data of the button Anna sees with this label, and its message's id."""
    for sent in reversed(standin.sent(ANNA_CHAT)):
        for row in (sent.get("reply_markup") or {}).get("inline_keyboard", []):
            for key in row:
                if key["text"] == label:
                    return key["callback_data"], sent["_id"]
    raise AssertionError(f"no button {label!r} in {standin.transcript(ANNA_CHAT)}")


def last_id(standin: BotApiStandin) -> int:
    return int(standin.sent(ANNA_CHAT)[-1]["_id"])


# Vague openers people do send; the tiny model changes as the classifier evolves, so the test
# takes the first one the registered model is unsure about, as the worker will be.
VAGUE = ["Помогите", "У меня вопрос", "Здравствуйте", "Подскажите, к кому обратиться?", "?"]


def unsure_text(runtime: Runtime) -> str:
    model = runtime.model_registry().active()
    extras = {"channel": "telegram", "department": "Продажи", "branch": ""}
    said = {text: model.predict(text, extras) for text in VAGUE}
    for text, prediction in said.items():
        if prediction.decision != "service":
            return text
    raise AssertionError(f"the tiny model is sure about every vague text: {said}")


def _label(runtime: Runtime, code: str) -> str:
    with runtime.sessions() as session:
        name: str = session.scalars(select(Service.name_ru).where(Service.code == code)).one()
        return name


def ticket(runtime: Runtime, number: str) -> Ticket:
    with runtime.sessions() as session:
        found = session.scalar(select(Ticket).where(Ticket.number == number))
        assert found is not None
        return found


@pytest.fixture(params=["polling", "webhook"])
def deliver(
    request: pytest.FixtureRequest,
    runtime: Runtime,
    standin: BotApiStandin,
    monkeypatch: pytest.MonkeyPatch,
    tg_settings: Any,
) -> Deliver:
    """How updates reach Okno: getUpdates from the stand-in, or Telegram POSTing the webhook.

    Telegram numbers updates in the order they happen; the recorded ones are renumbered so.
    """
    numbers = itertools.count(800000001)
    if request.param == "polling":
        bot: Bot = request.getfixturevalue("bot")

        def poll(data: dict[str, Any]) -> None:
            bot.receive({**data, "update_id": next(numbers)})

        return poll
    monkeypatch.setenv("OKNO_TELEGRAM_WEBHOOK_SECRET", SECRET)
    client = TestClient(create_app(runtime))

    def post(data: dict[str, Any]) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        body = {**data, "update_id": next(numbers)}
        resp = client.post("/api/v1/intake/telegram", json=body, headers=headers)
        assert resp.status_code == 200, resp.text
        drain(runtime)

    return post


def test_conversation(
    deliver: Deliver, runtime: Runtime, standin: BotApiStandin, anna: int, model: str
) -> None:
    chat = standin.transcript

    # /start: greeted in Russian (Telegram's language_code), offered to share the phone.
    deliver(update("start.json"))
    greeting = standin.sent(ANNA_CHAT)[-1]
    assert greeting["text"].startswith("Здравствуйте, Анна!")
    assert greeting["reply_markup"]["keyboard"][0][0]["request_contact"] is True

    # The shared contact matches the directory (79161234567 → +79161234567): linked.
    deliver(update("contact_own.json"))
    assert chat(ANNA_CHAT)[-1].startswith("Готово, Анна Петрова!")
    assert standin.sent(ANNA_CHAT)[-1]["reply_markup"] == {"remove_keyboard": True}

    # A confident request: number, service, team and the SLA promise, nothing asked.
    deliver(update("text_request.json"))
    created = chat(ANNA_CHAT)[-1]
    assert created.startswith("Ваше обращение зарегистрировано: OKNO-000001.")
    assert "Услуга: Неисправность компьютера или оргтехники" in created
    assert "Команда: ИТ сервис-деск" in created and "решим до" in created
    printer = ticket(runtime, "OKNO-000001")
    assert printer.routing == "service" and printer.requester_verified

    # An unsure one: the bot asks instead of guessing.
    vague = unsure_text(runtime)
    deliver(with_text(update("text_unsure.json"), vague))
    unsure = ticket(runtime, "OKNO-000002")
    assert unsure.routing in ("triage", "team"), "precondition: the model is unsure about it"
    offered = [_label(runtime, c["service"]) for c in unsure.candidates]
    *_, registered, question = chat(ANNA_CHAT)
    assert registered.startswith("Ваше обращение зарегистрировано: OKNO-000002.")
    assert question == (
        "Чтобы сразу передать обращение OKNO-000002 нужной команде, уточните: о чём оно? "
        f"[{' | '.join(offered)} | Другое]"
    )

    # Anna picks the second suggestion: the buttons go, the ticket is routed, she is told where.
    data, message_id = button(standin, offered[1])
    deliver(pressed(update("callback_service.json"), data, message_id))
    assert standin.calls_of("answerCallbackQuery")[-1]["text"] == "Спасибо, принято!"
    assert int(standin.calls_of("editMessageReplyMarkup")[-1]["message_id"]) == message_id
    routed = chat(ANNA_CHAT)[-1]
    assert routed.startswith(
        "Спасибо, так и передам.\nВаше обращение зарегистрировано: OKNO-000002"
    )
    assert f"Услуга: {offered[1]}" in routed and "Ответим до" in routed
    chosen = unsure.candidates[1]["service"]
    unsure = ticket(runtime, "OKNO-000002")
    assert (unsure.service_code, unsure.routing) == (chosen, "requester")
    assert unsure.team_code == unsure.candidates[1]["team"]
    assert unsure.predicted_service_code == unsure.candidates[0]["service"]
    assert unsure.resolution_due_at is not None and unsure.resolution_due_at > unsure.created_at
    with runtime.sessions() as session:
        event = session.scalars(
            select(TicketEvent).where(
                TicketEvent.ticket_id == unsure.id, TicketEvent.kind == "clarified"
            )
        ).one()
    assert (event.from_value, event.to_value) == (None, chosen)
    assert event.data["predicted"] == unsure.predicted_service_code

    # /my lists both open tickets with status and due time.
    deliver(update("my.json"))
    listing = chat(ANNA_CHAT)[-1]
    assert listing.startswith("Ваши открытые обращения:")
    assert f"OKNO-000002 — {vague}\nновое · решим до" in listing
    assert "OKNO-000001 — Не печатает принтер" in listing

    # A specialist comments; Anna answers with a Telegram reply: a comment on the ticket.
    specialist(runtime, actions.comment, "OKNO-000001", text="Проверьте лоток 2.", public=True)
    assert chat(ANNA_CHAT)[-1] == "Новый комментарий по обращению OKNO-000001:\nПроверьте лоток 2."
    deliver(reply_to(update("reply_to_bot.json"), last_id(standin)))
    printer = ticket(runtime, "OKNO-000001")
    with runtime.sessions() as session:
        bodies = [m.body for m in session.get(Ticket, printer.id).messages]  # type: ignore[union-attr]
        assert session.scalar(select(Ticket.id).where(Ticket.number == "OKNO-000003")) is None
    assert bodies[-1] == "Бумагу вынула, но всё равно не печатает"

    # Resolved: the resolution with a 1-5 rating keyboard; a rating, then a comment.
    specialist(runtime, actions.resolve, "OKNO-000001", resolution="Заменили ролик подачи.")
    assert chat(ANNA_CHAT)[-1].startswith("Обращение OKNO-000001 решено:\nЗаменили ролик подачи.")
    assert chat(ANNA_CHAT)[-1].endswith("[⭐ | ⭐⭐ | ⭐⭐⭐ | ⭐⭐⭐⭐ | ⭐⭐⭐⭐⭐]")
    data, message_id = button(standin, "⭐⭐⭐⭐⭐")
    deliver(pressed(update("callback_rating.json"), data, message_id))
    thanks = standin.sent(ANNA_CHAT)[-1]
    assert thanks["text"].startswith("Спасибо за оценку 5 из 5!")
    assert thanks["reply_markup"]["force_reply"] is True
    deliver(reply_to(update("rating_comment.json"), thanks["_id"]))
    assert chat(ANNA_CHAT)[-1] == "Спасибо, ваш отзыв по обращению OKNO-000001 записан."
    with runtime.sessions() as session:
        feedback = session.scalars(select(Feedback)).one()
    assert (feedback.rating, feedback.comment, feedback.channel) == (
        5,
        "Быстро и вежливо, спасибо!",
        "telegram",
    )

    # A status push: the second ticket closed without a resolution.
    specialist(runtime, actions.close, "OKNO-000002", reason="Восстановилось само")
    assert chat(ANNA_CHAT)[-1] == "Статус обращения OKNO-000002 изменён: закрыто."
    with runtime.sessions() as session:
        address = session.scalars(select(EmployeeAddress)).one()
    assert (address.address, address.verified, address.unreachable) == (str(ANNA_CHAT), True, False)


def test_english_speaker_is_answered_in_english(
    bot: Bot, standin: BotApiStandin, model: str
) -> None:
    bot.receive(update("start_en.json"))
    assert standin.transcript(222222222)[-1].startswith("Hello, John! I am the Okno bot")
    bot.receive(update("text_english.json"))
    created = standin.transcript(222222222)[-1]
    assert created.startswith("Your request is registered: OKNO-000001.")
    assert "Service: Network, Wi-Fi and VPN" in created
