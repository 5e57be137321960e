"""A specialist's day in the workspace, in Debian's Chromium driven by Playwright, on a live server.

One browser for the module. Set OKNO_SCREENSHOT_DIR=docs to refresh the README's screenshots.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from channels.blobs import store_blob
from models.db import Employee, NotificationRow, SuggestionState, Ticket, session_scope
from models.knowledge import KnowledgeArticle
from models.types import Attachment, Channel, IncomingMessage
from router import suggestions as proactive
from router.intake import Intake
from router.runtime import Runtime
from tests.conftest import drain
from tests.router.analytics_history import seed_suggestions
from tests.support.browser import shot
from tests.support.workflow import make_staff, make_ticket

REQUESTER = "m.kovaleva@corp.example.com"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        locale="ru-RU", accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    yield context.new_page()
    context.close()


def backlog(runtime: Runtime) -> None:
    """A few tickets already waiting, one of them overdue."""
    with runtime.sessions() as session:
        for service, subject, hours in (
            ("hr_vacation", "Перенос отпуска на август", 30),
            ("hr_certificate", "Справка 2-НДФЛ для банка", -2),
            ("hr_personal_data", "Смена фамилии после брака", 70),
        ):
            make_ticket(session, service=service, subject=subject, due_in=timedelta(hours=hours))
        session.add(
            KnowledgeArticle(
                service_code="hr_certificate",
                language="ru",
                title="Справка готова",
                body="Справка будет готова завтра к 12:00, заберите в кабинете 214.",
                public=False,
                author="lead@ssc.example.com",
            )
        )
        session.add(
            Employee(
                email=REQUESTER,
                name="Мария Ковалёва",
                department="Бухгалтерия",
                branch="Казань",
                active=True,
            )
        )
        session.commit()


def new_request(runtime: Runtime) -> None:
    """A web-form request with a scanned document attached, through intake and the pipeline."""
    key = store_blob(runtime.settings.attachments_dir, b"%PDF-1.4 scan")
    Intake(runtime).accept(
        IncomingMessage(
            channel=Channel.webform,
            external_id="agent-browser-1",
            sender_address=REQUESTER,
            sender_name="Мария Ковалёва",
            subject="Нужна справка с места работы",
            text="Добрый день! Нужна справка с места работы для визы, скан паспорта приложила.",
            service_hint="hr_certificate",
            language="ru",
            attachments=[
                Attachment(
                    name="паспорт.pdf", content_type="application/pdf", size=13, stored_key=key
                )
            ],
        )
    )
    drain(runtime)


def test_a_specialist_works_a_ticket_in_the_browser(
    page: Any,
    live_server: str,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    staff = make_staff(runtime)
    backlog(runtime)
    page.goto(live_server + "/agent/")
    page.fill("#token", staff.hr.token)
    page.click("#sign-in")
    page.wait_for_selector("#queue-rows")
    assert page.locator("#queue-rows tr[data-href]").count() == 3

    new_request(runtime)  # the queue polls: the new ticket appears without a reload
    page.wait_for_function("document.querySelectorAll('#queue-rows tr[data-href]').length === 4")
    with runtime.sessions() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.requester_address == REQUESTER)).one()
        number = str(ticket.number)
    assert page.locator("#queue-rows tr.overdue").count() == 1
    shot(page, "agent-queue.png")

    for _ in range(4):  # j/k move, Enter opens
        page.keyboard.press("j")
    page.keyboard.press("k")
    selected = page.get_attribute("#queue-rows tr.selected", "data-href")
    assert selected
    page.keyboard.press("Enter")
    page.wait_for_url("**" + selected)
    page.goto(f"{live_server}/agent/tickets/{number}")
    assert "Бухгалтерия" in page.text_content("aside") and "Казань" in page.text_content("aside")

    page.click("#act-claim")
    page.wait_for_selector("#done")
    page.click("a.insert")  # one click puts the canned answer into the reply
    page.wait_for_function("document.querySelector('#reply-text').value.includes('кабинете 214')")
    page.click("#reply-send")
    page.wait_for_selector("#done")
    assert "кабинете 214" in page.text_content(".msg.outbound")
    drain(runtime)
    with runtime.sessions() as session:
        sent = session.scalars(
            select(NotificationRow).where(NotificationRow.kind == "comment")
        ).one()
        assert (sent.channel, sent.recipient, sent.status) == ("webform", REQUESTER, "sent")

    with page.expect_download() as download:
        page.click("text=паспорт.pdf")
    assert Path(download.value.path()).read_bytes() == b"%PDF-1.4 scan"
    shot(page, "agent-ticket.png")

    page.select_option("#reassign-service", "hr_personal_data")
    page.fill("#reassign-reason", "Это смена персональных данных, не справка")
    page.click("#act-reassign")
    page.wait_for_selector("#done")
    assert "hr_personal_data" in page.text_content(".meta")
    assert "Это смена персональных данных" in page.text_content(".events")

    page.click("#logout")
    page.wait_for_selector("#token")
    page.goto(live_server + "/agent/")
    assert page.url.endswith("/agent/login")

    # A lead sees the analytics summary as charts (server-side SVG, no script needed), and the
    # suggestions the history makes (January's: the page's 90 days are moved back to it).
    with session_scope(runtime.sessions) as session:
        seed_suggestions(session)
    monkeypatch.setattr(
        proactive, "default_since", lambda now=None: datetime(2026, 1, 1, tzinfo=UTC)
    )
    page.fill("#token", staff.lead.token)
    page.click("#sign-in")
    page.wait_for_selector("#queue-rows")
    page.click("text=Аналитика")
    page.wait_for_selector("figure.chart svg")
    assert page.locator("figure.chart svg").count() == 5
    assert page.locator("article.suggestion").count() == 3
    shot(page, "agent-analytics.png")
    page.click("article.suggestion[data-kind=recurring] >> text=Отклонить")
    page.wait_for_selector("article.suggestion[data-kind=recurring][data-state=dismissed]")
    with runtime.sessions() as session:
        states = session.scalars(select(SuggestionState.state)).all()
    assert states == ["dismissed"]
