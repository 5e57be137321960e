"""A new request in the portal, in Debian's Chromium driven by Playwright, on a live server.

Browse and search the catalogue; describe the problem and get the model's three services as you
type; choose one and read its public articles; attach files; send; the status link is shown.
One browser, one server and one small model for the module. Set OKNO_SCREENSHOT_DIR=docs to
refresh docs/portal-catalogue.png, docs/portal-candidates.png and docs/portal-submitted.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import select

from models.db import InboundMessage, Ticket, TicketMessage, session_scope
from models.knowledge import KnowledgeArticle
from models.migrate import upgrade
from router.catalog import load_catalog
from router.runtime import Runtime, build_runtime, use_runtime
from tests.conftest import CATALOG, drain, make_settings
from tests.support.browser import serving, shot
from tests.support.portal_model import train_into

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 200


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Runtime]:
    """SQLite, the catalogue, a small active model and two articles (one public)."""
    tmp = tmp_path_factory.mktemp("portal")
    settings = make_settings(tmp, f"sqlite:///{tmp / 'okno.db'}", redis_url)
    upgrade(settings.effective_database_url)
    rt = build_runtime(settings)
    Redis.from_url(redis_url).flushdb()
    with session_scope(rt.sessions) as session:
        load_catalog(CATALOG, session=session)
        for title, body, public in (
            (
                "Ноутбук не включается: что проверить",
                "1. Подключите зарядку на 15 минут.\n2. Зажмите кнопку питания на 30 секунд.",
                True,
            ),
            ("Шаблон: замена ноутбука", "Внутренний ответ специалиста.", False),
        ):
            session.add(
                KnowledgeArticle(
                    service_code="it_hardware",
                    language="ru",
                    title=title,
                    body=body,
                    public=public,
                    author="lead@ssc.example.com",
                )
            )
    train_into(settings.registry_dir)
    use_runtime(rt)
    yield rt
    use_runtime(None)
    rt.close()


@pytest.fixture(scope="module")
def server(runtime: Runtime) -> Iterator[str]:
    with serving(runtime) as url:
        yield url


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="ru-RU", viewport={"width": 1000, "height": 900})
    yield context.new_page()
    context.close()


def cards(page: Any, box: str) -> list[str]:
    return page.eval_on_selector_all(f"{box} .card", "cs => cs.map(c => c.dataset.code)")  # type: ignore[no-any-return]


def test_browse_the_catalogue_by_team_and_search_it(page: Any, server: str) -> None:
    page.goto(server + "/")
    page.click("#browse summary")
    page.wait_for_selector("#catalogue details[data-team='it_desk']")
    teams = page.eval_on_selector_all("#catalogue details", "ds => ds.map(d => d.dataset.team)")
    assert "hr" in teams and "it_desk" in teams and "triage" not in teams
    assert "(3 услуги)" in page.inner_text("#catalogue details[data-team='legal'] summary")
    page.click("#catalogue details[data-team='it_desk'] summary")
    desk = page.locator("#catalogue details[data-team='it_desk']")
    assert "Оборудование" in desk.inner_text() or desk.locator(".card").count() >= 3
    assert desk.locator(".card .desc").first.inner_text()  # every service says what it covers
    shot(page, "portal-catalogue.png")
    page.fill("#search", "jngecr")  # "отпуск", typed in the English layout
    page.wait_for_selector("#search-results .card")
    assert cards(page, "#search-results")[0] == "hr_vacation"
    assert page.locator("#catalogue").is_hidden()
    page.fill("#search", "Meeting room")
    page.wait_for_function(
        "document.querySelector('#search-results .card')?.dataset.code === 'fac_meeting_room'"
    )
    page.click("#search-results .card[data-code='fac_meeting_room'] button")
    assert page.input_value("#service") == "fac_meeting_room"
    assert "chosen" in (page.get_attribute("#search-results .card", "class") or "")
    page.click(".lang button[data-lang='en']")
    page.wait_for_function(
        "document.querySelector('#search-results .card .name').textContent === 'Meeting rooms'"
        " || document.querySelector('#search-results .card .name').textContent.includes('eeting')"
    )
    page.fill("#search", "zzqx")
    page.wait_for_selector("#search-results p.hint")
    assert "Nothing found" in page.inner_text("#search-results")


def test_describe_choose_read_attach_and_send(page: Any, server: str, runtime: Runtime) -> None:
    page.goto(server + "/")
    page.wait_for_selector("#service option[data-code='it_hardware']", state="attached")
    page.fill("#text", "Не включается ноутбук после обновления, индикатор мигает")
    page.wait_for_selector("#candidates .card")
    suggested = cards(page, "#candidates")
    assert len(suggested) == 3 and suggested[0] == "it_hardware"
    assert page.locator("#candidates .card .team").first.inner_text() == "ИТ сервис-деск"
    page.click("#candidates .card[data-code='it_hardware'] button")
    assert page.input_value("#service") == "it_hardware"
    page.wait_for_selector("#articles .article")
    articles = page.inner_text("#articles")
    assert "Ноутбук не включается: что проверить" in articles
    assert "Шаблон" not in articles  # a canned answer is not for requesters
    page.click("#articles .article summary")
    assert "Зажмите кнопку питания" in page.inner_text("#articles")
    page.fill("#name", "Мария Ковалёва")
    page.fill("#email", "m.kovaleva@corp.example.com")
    page.fill("#subject", "Не включается ноутбук")
    page.set_input_files(
        "#files",
        files=[
            {"name": "индикатор.png", "mimeType": "image/png", "buffer": PNG},
            {"name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"},
        ],
    )
    page.wait_for_function(
        "document.querySelectorAll('#file-list li').length === 2 && "
        "!document.querySelector('#file-list').textContent.includes('загружается')"
    )
    assert "такой тип файла не принимаем" in page.inner_text("#file-list")
    page.evaluate("document.activeElement.blur()")
    shot(page, "portal-candidates.png")
    page.click("#submit")
    page.wait_for_selector("#done", state="visible")
    link = page.get_attribute("#status-link", "href") or ""
    assert re.fullmatch(re.escape(server) + r"/\?m=\d+&key=[0-9a-f]{16}", link), link
    assert page.locator("#form").is_hidden()
    drain(runtime)
    page.wait_for_function("document.querySelector('#result').textContent.includes('OKNO-')")
    shot(page, "portal-submitted.png")
    with runtime.sessions() as session:
        message = session.scalars(select(TicketMessage).order_by(TicketMessage.id.desc())).first()
        assert message is not None
        ticket = session.get(Ticket, message.ticket_id)
        assert ticket is not None and ticket.service_code == "it_hardware"
        assert [(a["name"], a["content_type"]) for a in message.attachments] == [
            ("индикатор.png", "image/png")
        ]  # the refused .exe never left the page
    # The link opens this request's status.
    page.goto(link)
    page.wait_for_function("document.querySelector('#result').textContent.includes('OKNO-')")
    assert page.locator("#form").is_hidden()


def test_an_english_request_is_suggested_and_sent_in_english(
    page: Any, server: str, runtime: Runtime
) -> None:
    page.goto(server + "/")
    page.click(".lang button[data-lang='en']")
    assert page.text_content("h1") == "Shared service centre — single window"
    page.fill("#text", "I forgot my password and my account is locked")
    page.wait_for_selector("#candidates .card[data-code='access_password']")
    assert page.locator("#candidates .card .name").first.inner_text() == (
        "Password reset and unlock"
    )
    page.fill("#name", "John Smith")
    page.fill("#email", "j.smith@corp.example.com")
    page.click("#submit")
    page.wait_for_selector("#done", state="visible")
    assert page.inner_text("#done h2") == "Request sent"
    message_id = int(
        (page.get_attribute("#status-link", "href") or "").split("m=")[1].split("&")[0]
    )
    with runtime.sessions() as session:
        row = session.get(InboundMessage, message_id)
        assert row is not None and row.payload["language"] == "en"
    page.click("#new-request")
    assert page.input_value("#text") == "" and page.input_value("#name") == "John Smith"
