"""Hostile or unlucky Telegram input (issue #11): a 4xx or a ticket, never a lost request."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from models.db import InboundMessage, Ticket, TicketMessage
from router.runtime import Runtime
from tests.channels.telegram.botapi_standin import BotApiStandin
from tests.channels.telegram.conftest import ANNA_CHAT, SECRET, Bot, update
from tests.conftest import drain

PHOTO = b"\xff\xd8\xff\xe0" + b"jpeg-bytes" * 100


def ticket_messages(runtime: Runtime) -> list[TicketMessage]:
    with runtime.sessions() as session:
        assert len(session.scalars(select(Ticket)).all()) == 1
        return list(session.scalars(select(TicketMessage).order_by(TicketMessage.id)))


def test_a_file_getfile_refuses_leaves_the_text_as_a_ticket_with_a_note(
    bot: Bot, standin: BotApiStandin, runtime: Runtime
) -> None:
    bot.receive(update("photo_caption.json"))  # the stand-in knows no such file_id
    first, note = ticket_messages(runtime)
    assert first.body == "Вот так выглядит ошибка на принтере" and first.attachments == []
    assert note.direction == "internal" and "could not be fetched" in note.body
    assert "photo_AQADlarge.jpg" in note.body
    assert any("не смог получить файл" in t.lower() for t in standin.transcript(ANNA_CHAT))


def test_a_file_whose_download_fails_leaves_the_text_as_a_ticket(
    bot: Bot, standin: BotApiStandin, runtime: Runtime
) -> None:
    standin.add_file("AgACAgIAAxkBAAIBZ2large", PHOTO, "photos/file_7.jpg")
    standin.expired.add("photos/file_7.jpg")
    bot.receive(update("photo_caption.json"))
    first, note = ticket_messages(runtime)
    assert first.body == "Вот так выглядит ошибка на принтере" and first.attachments == []
    assert "could not be fetched" in note.body


def test_deeply_nested_json_is_a_400_and_kept_rejected(
    webhook_client: TestClient, runtime: Runtime
) -> None:
    body = b'{"update_id": 700000999, "message": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    client = TestClient(webhook_client.app, raise_server_exceptions=False)
    for _ in range(4):  # every retry: the same answer, one stored message
        resp = client.post("/api/v1/intake/telegram", content=body, headers=headers)
        assert resp.status_code == 400, resp.text
        assert resp.json()["error"] == "malformed" and "nested" in resp.json()["detail"]
    drain(runtime)
    with runtime.sessions() as session:
        (stored,) = session.scalars(select(InboundMessage)).all()
        assert stored.status == "rejected" and "nested" in (stored.error or "")
        assert stored.raw == body
