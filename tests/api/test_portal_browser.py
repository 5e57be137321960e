"""The portal in a real browser (Debian's Chromium driven by Playwright) against a live server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from models.db import TicketMessage
from models.types import Channel, IncomingMessage
from router.intake import Intake
from router.lifecycle import actions
from router.runtime import INTAKE_QUEUE, NOTIFY_QUEUE, Runtime
from router.sends import enqueue_send
from router.status_link import page_url
from tests.conftest import drain
from tests.support.workflow import make_staff


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="ru-RU")
    yield context.new_page()
    context.close()


def test_portal_submits_request_and_shows_ticket(
    page: Any, live_server: str, runtime: Runtime
) -> None:
    page.goto(live_server + "/")
    page.wait_for_selector("#service option[data-code='it_hardware']", state="attached")
    page.fill("#name", "Мария Ковалёва")
    page.fill("#email", "m.kovaleva@corp.example.com")
    page.select_option("#service", "it_hardware")
    page.fill("#subject", "Не включается ноутбук")
    page.fill("#text", "После обновления ноутбук не включается, индикатор мигает оранжевым.")
    page.click("#submit")
    page.wait_for_function("document.querySelector('#result').textContent.includes('принято')")
    # Accepted first, the ticket and its "created" message later (the intake job sends that
    # message itself): the page keeps asking until the message is there.
    page.wait_for_timeout(300)
    assert "OKNO-" not in page.text_content("#result")
    drain(runtime, (INTAKE_QUEUE, NOTIFY_QUEUE))
    page.wait_for_function("document.querySelector('#result').textContent.includes('сервис-деск')")
    result = page.text_content("#result")
    assert "Номер обращения: OKNO-" in result
    assert "ИТ сервис-деск" in result


def test_portal_switches_language_and_shows_errors(page: Any, live_server: str) -> None:
    page.goto(live_server + "/")
    page.click("text=EN")
    assert page.text_content("h1") == "Shared service centre — single window"
    page.fill("#name", "John")
    page.fill("#email", "john@corp.example.com")
    page.fill("#text", "x" * 70_000)
    page.click("#submit")
    page.wait_for_function("document.querySelector('#result').className === 'error'")
    assert "Could not process" in page.text_content("#result")


def test_status_link_from_an_sms_opens_the_request(
    page: Any, live_server: str, runtime: Runtime
) -> None:
    result = Intake(runtime).accept(
        IncomingMessage(
            channel=Channel.webform,
            external_id="sms-link",
            sender_address="k@corp.example.com",
            text="Сломался принтер",
            service_hint="it_hardware",
            language="ru",
        )
    )
    drain(runtime)
    page.goto(page_url(live_server, runtime.secret_key, result.message_id))
    page.wait_for_function("document.querySelector('#result').textContent.includes('OKNO-')")
    assert "Ваше обращение зарегистрировано" in page.text_content("#result")


def test_an_edited_request_sent_again_from_the_same_page_is_kept(
    page: Any, live_server: str, runtime: Runtime
) -> None:
    page.goto(live_server + "/")
    page.fill("#name", "Мария Ковалёва")
    page.fill("#email", "m.kovaleva@corp.example.com")
    page.fill("#subject", "Не включается ноутбук")
    page.fill("#text", "Ноутбук не включается.")
    page.click("#submit")
    page.wait_for_function("document.querySelector('#result').textContent.includes('принято')")
    page.evaluate("document.querySelector('#result').textContent = ''")
    page.click("#new-request")  # the sent form gives way to its status link; this brings it back
    page.fill("#subject", "И монитор")
    page.fill("#text", "Монитор тоже мигает.")
    page.click("#submit")
    page.wait_for_function("document.querySelector('#result').textContent.includes('принято')")
    drain(runtime)
    with runtime.sessions() as session:
        texts = session.scalars(select(TicketMessage.body).order_by(TicketMessage.id)).all()
    assert texts == ["Ноутбук не включается.", "Монитор тоже мигает."]


def test_the_status_page_stays_live_and_offers_the_rating(
    page: Any, live_server: str, runtime: Runtime
) -> None:
    staff = make_staff(runtime)
    result = Intake(runtime).accept(
        IncomingMessage(
            channel=Channel.webform,
            external_id="live-status",
            sender_address="k@corp.example.com",
            text="Сломался принтер",
            service_hint="it_hardware",
            language="ru",
        )
    )
    drain(runtime)
    page.goto(page_url(live_server, runtime.secret_key, result.message_id))
    page.wait_for_function("document.querySelector('#result').textContent.includes('OKNO-')")
    with runtime.sessions() as session:
        number = session.scalars(select(TicketMessage)).first().ticket.number  # type: ignore[union-attr]
        out = actions.resolve(
            session=session, ticket_number=number, user_id=staff.admin.id, resolution="Заменили"
        )
        session.commit()
    enqueue_send(runtime, out.notification_ids)
    drain(runtime)
    page.wait_for_selector("#rating a", timeout=15000)
    text = page.text_content("#result")
    assert "Ваше обращение зарегистрировано" in text and "Заменили" in text  # the whole thread
    page.click("#rating a:text-is('5')")
    page.wait_for_function("document.body.textContent.includes('5 из 5')")
