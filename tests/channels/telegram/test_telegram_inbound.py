"""Inbound edge cases: files, voice, duplicates, malformed and unsupported input, groups, lookups."""

from __future__ import annotations

import copy
import hashlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from api.app import create_app
from channels.telegram.polling import MAX_TRIES
from models.db import ChannelState, InboundMessage, Ticket, TicketEvent, TicketMessage
from router.runtime import Runtime
from router.status_link import api_url
from tests.channels.telegram.botapi_standin import BotApiStandin
from tests.channels.telegram.conftest import (
    ANNA_CHAT,
    SECRET,
    Bot,
    attachment_path,
    pressed,
    update,
)
from tests.conftest import drain

PHOTO = b"\xff\xd8\xff\xe0" + b"jpeg-bytes" * 4000


def tickets(runtime: Runtime) -> list[Ticket]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def messages(runtime: Runtime) -> list[TicketMessage]:
    with runtime.sessions() as session:
        return list(session.scalars(select(TicketMessage).order_by(TicketMessage.id)))


def test_photo_is_downloaded_and_attached(
    bot: Bot, standin: BotApiStandin, runtime: Runtime
) -> None:
    standin.add_file("AgACAgIAAxkBAAIBZ2large", PHOTO, "photos/file_7.jpg")
    bot.receive(update("photo_caption.json"))
    (first,) = messages(runtime)
    assert first.body == "Вот так выглядит ошибка на принтере"
    (attached,) = first.attachments
    digest = hashlib.sha256(PHOTO).hexdigest()
    assert attached == {
        "name": "photo_AQADlarge.jpg",
        "content_type": "image/jpeg",
        "size": len(PHOTO),
        "stored_key": f"{digest[:2]}/{digest}",
        "note": None,
    }
    assert attachment_path(runtime, attached["stored_key"]).read_bytes() == PHOTO
    assert [c["file_id"] for c in standin.calls_of("getFile")] == ["AgACAgIAAxkBAAIBZ2large"]


def test_oversized_file_is_refused_politely_and_the_text_goes_through(
    bot: Bot, standin: BotApiStandin, runtime: Runtime
) -> None:
    standin.add_file("BQACAgIAAxkBAAIBbig", b"%PDF", "documents/file_9.pdf", size=26214400)
    bot.receive(update("document_too_big.json"))
    (ticket,) = tickets(runtime)
    refusal, created = standin.transcript(ANNA_CHAT)[:2]  # the bot answers at once
    assert created.startswith("Ваше обращение зарегистрировано: OKNO-000001")
    assert refusal == (
        "Файл «scan_contract.pdf» слишком большой (25.0 МБ, можно до 20 МБ), я его не приложил. "
        "Текст обращения передан."
    )
    first, note = messages(runtime)
    assert first.body == "Прошу проверить договор поставки до пятницы" and first.attachments == []
    assert note.direction == "internal" and "scan_contract.pdf" in note.body
    assert standin.calls_of("getFile") == []  # the declared size was enough to say no


def test_size_is_checked_while_downloading(
    bot: Bot, standin: BotApiStandin, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sizes can be missing from the update: the download itself stops at the limit."""
    bot.gateway.downloader.max_bytes = 1000
    data = update("photo_caption.json")
    del data["message"]["photo"][-1]["file_size"]
    standin.add_file("AgACAgIAAxkBAAIBZ2large", PHOTO, "photos/file_8.jpg", size=None)
    standin.files["AgACAgIAAxkBAAIBZ2large"] = ("photos/file_8.jpg", PHOTO, 0)  # getFile: 0
    bot.receive(data)
    (first, note) = messages(runtime)
    assert first.attachments == [] and "photo_AQADlarge.jpg" in note.body
    assert "слишком большой" in standin.transcript(ANNA_CHAT)[0]


def test_voice_is_attached_and_goes_to_triage_with_a_note(
    bot: Bot, standin: BotApiStandin, runtime: Runtime, model: str
) -> None:
    standin.add_file("AwACAgIAAxkBAAIBvoice", b"OggS" * 100, "voice/file_10.oga")
    bot.receive(update("voice.json"))
    (ticket,) = tickets(runtime)
    assert ticket.team_code == "triage" and ticket.service_code is None
    assert any("voice message" in n for n in ticket.notes)
    (first,) = messages(runtime)
    assert first.attachments[0]["content_type"] == "audio/ogg"
    assert first.attachments[0]["name"] == "voice_AgADvoice.ogg"
    # Nothing to choose from in silence: registered, no question asked.
    assert len(standin.transcript(ANNA_CHAT)) == 1


def test_the_same_update_or_message_never_makes_two_tickets(
    bot: Bot, runtime: Runtime, webhook_client: TestClient
) -> None:
    request = update("text_request.json")
    bot.receive(request)
    # The offset was lost (say, the database was restored): Telegram sends it again.
    with runtime.sessions() as session, session.begin():
        session.execute(delete(ChannelState))
    bot.receive(request)
    # The same message in another update, and by webhook too.
    bot.receive({**request, "update_id": request["update_id"] + 1000})
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert webhook_client.post("/api/v1/intake/telegram", json=request, headers=headers).is_success
    drain(runtime)
    assert len(tickets(runtime)) == 1
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(InboundMessage.id))) == 1


def test_malformed_update_is_kept_rejected_and_polling_goes_on(
    bot: Bot, standin: BotApiStandin, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    broken, fine = update("malformed.json"), update("text_request.json")
    fine["update_id"] = broken["update_id"] + 1
    assert bot.receive(broken, fine) == 2
    assert "telegram update refused: malformed Telegram update" in caplog.text
    with runtime.sessions() as session:
        stored = session.scalars(
            select(InboundMessage).where(InboundMessage.external_id == "update:700000120")
        ).one()
    link = api_url("", runtime.secret_key, stored.id)  # the error's detail needs the key
    body = TestClient(create_app(runtime)).get(link).json()
    assert body["status"] == "rejected"
    assert body["error"].startswith(
        "ParseError: malformed Telegram update: message.date: Field required"
    )
    assert "message.chat: Field required" in body["error"]
    assert stored.raw is not None and b"\xd0\xb1\xd0\xb5\xd0\xb7" in stored.raw  # "без", as sent
    assert len(tickets(runtime)) == 1  # the update after it was not lost


def test_webhook_stores_a_body_that_is_not_even_json(
    webhook_client: TestClient, runtime: Runtime
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    resp = webhook_client.post("/api/v1/intake/telegram", content=b"{not json", headers=headers)
    assert resp.status_code == 200
    message_id = resp.json()["rejected_message_id"]
    drain(runtime)
    body = webhook_client.get(api_url("", runtime.secret_key, message_id)).json()
    assert body["status"] == "rejected" and "not JSON" in body["error"]
    bare = webhook_client.get(f"/api/v1/messages/{message_id}").json()
    assert bare["error"] == "ParseError"  # without the key, only the kind of error


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_webhook_refuses_a_wrong_or_missing_secret(
    webhook_client: TestClient, runtime: Runtime, secret: str | None
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    resp = webhook_client.post(
        "/api/v1/intake/telegram", json=update("text_request.json"), headers=headers
    )
    assert resp.status_code == 401
    assert resp.json()["error"] == "unauthorized"
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(InboundMessage.id))) == 0


def test_webhook_is_off_without_a_secret(runtime: Runtime, tg_settings: object) -> None:
    client = TestClient(create_app(runtime))
    resp = client.post("/api/v1/intake/telegram", json=update("text_request.json"))
    assert resp.status_code == 404 and resp.json()["error"] == "not_configured"


def test_a_webhook_update_that_keeps_failing_is_kept_rejected(
    runtime: Runtime, standin: BotApiStandin, webhook_client: TestClient
) -> None:
    """As with polling: after MAX_TRIES the update is stored rejected and Telegram gets 200."""
    standin.refuse(ANNA_CHAT, 400, "Bad Request: chat not found")  # the greeting cannot go
    client = TestClient(webhook_client.app, raise_server_exceptions=False)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    start = update("start.json")
    for _ in range(MAX_TRIES - 1):
        resp = client.post("/api/v1/intake/telegram", json=start, headers=headers)
        assert resp.status_code == 500
    resp = client.post("/api/v1/intake/telegram", json=start, headers=headers)
    assert resp.status_code == 200
    message_id = resp.json()["rejected_message_id"]
    drain(runtime)
    with runtime.sessions() as session:
        stored = session.get_one(InboundMessage, message_id)
    assert stored.status == "rejected" and stored.external_id == "update:700000101"
    assert "handling failed 3 times: TelegramBadRequest" in (stored.error or "")


def test_group_chats_get_a_hint_and_no_ticket(
    bot: Bot, standin: BotApiStandin, runtime: Runtime
) -> None:
    mention = update("group_mention.json")
    chatter = copy.deepcopy(mention)
    chatter["update_id"] += 1
    chatter["message"].update(message_id=42, text="коллеги, кто брал зарядку?", entities=[])
    bot.receive(mention, chatter)
    group = mention["message"]["chat"]["id"]
    assert standin.transcript(group) == [
        "Я принимаю обращения только в личных сообщениях — напишите мне лично."
    ]
    assert standin.sent(group)[0]["reply_parameters"]["message_id"] == 41
    assert tickets(runtime) == []


def test_a_sticker_is_refused_and_kept(bot: Bot, standin: BotApiStandin, runtime: Runtime) -> None:
    bot.receive(update("sticker.json"))
    assert standin.transcript(ANNA_CHAT) == [
        "Я понимаю текст, фото, документы и голосовые сообщения. Опишите, пожалуйста, вопрос."
    ]
    with runtime.sessions() as session:
        stored = session.scalars(select(InboundMessage)).one()
    assert stored.status == "rejected"
    assert stored.error == "UnsupportedInput: unsupported Telegram content: sticker"


def test_status_shows_only_your_own_tickets(
    bot: Bot, standin: BotApiStandin, runtime: Runtime
) -> None:
    bot.receive(update("text_request.json"))
    ask = update("status.json")
    ask["message"]["text"] = "/status okno-000001"
    bot.receive(ask)
    card = standin.transcript(ANNA_CHAT)[-1]
    assert card.startswith("OKNO-000001 — Не печатает принтер")
    assert "Услуга: уточняется\nКоманда: Центральная диспетчерская\nСтатус: новое" in card
    # John asks about Anna's ticket: as good as absent.
    other = copy.deepcopy(ask)
    other["update_id"] += 1
    other["message"]["chat"] = {"id": 222222222, "first_name": "John", "type": "private"}
    other["message"]["from"] = {"id": 222222222, "is_bot": False, "first_name": "John"}
    bot.receive(other)
    assert standin.transcript(222222222) == ["Среди ваших обращений нет OKNO-000001."]


def test_without_a_model_the_catalogue_suggests_and_something_else_stays_in_triage(
    bot: Bot, standin: BotApiStandin, runtime: Runtime
) -> None:
    bot.receive(update("text_request.json"))
    question = standin.transcript(ANNA_CHAT)[-1]
    assert "[Неисправность компьютера или оргтехники" in question and question.endswith("| Другое]")
    other = next(
        b["callback_data"]
        for row in standin.sent(ANNA_CHAT)[-1]["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"] == "Другое"
    )
    bot.receive(pressed(update("callback_service.json"), other, standin.sent(ANNA_CHAT)[-1]["_id"]))
    assert standin.transcript(ANNA_CHAT)[-1] == (
        "Понял. Обращение OKNO-000001 разберёт диспетчер и передаст нужной команде."
    )
    (ticket,) = tickets(runtime)
    assert (ticket.team_code, ticket.service_code) == ("triage", None)
    with runtime.sessions() as session:
        event = session.scalars(select(TicketEvent).where(TicketEvent.kind == "clarified")).one()
    assert event.data["choice"] == "other" and event.to_value is None


def test_a_choice_for_someone_elses_ticket_is_rejected(
    bot: Bot, standin: BotApiStandin, runtime: Runtime
) -> None:
    bot.receive(update("text_request.json"))
    press = pressed(update("callback_service.json"), "svc:OKNO-000001:it_hardware", 1)
    press["callback_query"]["from"] = {"id": 222222222, "is_bot": False, "first_name": "John"}
    press["callback_query"]["message"]["chat"] = {"id": 222222222, "type": "private"}
    bot.receive(press)
    (ticket,) = tickets(runtime)
    assert ticket.service_code is None
    with runtime.sessions() as session:
        refused = session.scalars(
            select(InboundMessage).where(InboundMessage.external_id.like("cb:%"))
        ).one()
    assert refused.status == "rejected"
    assert refused.error == "choose_service: 'OKNO-000001' is not a ticket of this requester"


def test_a_late_choice_says_where_the_ticket_went(
    bot: Bot, standin: BotApiStandin, runtime: Runtime
) -> None:
    bot.receive(update("text_request.json"))
    with runtime.sessions() as session, session.begin():
        ticket = session.scalars(select(Ticket)).one()
        ticket.service_code, ticket.team_code = "it_hardware", "it_desk"
    bot.receive(pressed(update("callback_service.json"), "svc:OKNO-000001:other", 1))
    assert standin.transcript(ANNA_CHAT)[-1] == (
        "Обращение OKNO-000001 уже передано: Неисправность компьютера или оргтехники."
    )


def test_a_message_starting_with_its_ticket_number_continues_it(
    bot: Bot, standin: BotApiStandin, runtime: Runtime
) -> None:
    request = update("text_request.json")
    bot.receive(request)
    follow = copy.deepcopy(request)
    follow["update_id"] += 1
    follow["message"].update(message_id=30, text="OKNO-000001: принтер снова жуёт бумагу")
    bot.receive(follow)
    assert len(tickets(runtime)) == 1
    assert messages(runtime)[-1].body == "OKNO-000001: принтер снова жуёт бумагу"
