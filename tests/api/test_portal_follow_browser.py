"""Following a request in a real browser (Debian's Chromium, Playwright) against a live server.

One browser, one server, one runtime and one SMTP relay for the module (they are slow to
start); each test makes its own tickets. OKNO_SCREENSHOT_DIR=docs retakes the screenshots in docs/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from models.db import (
    Employee,
    EmployeeAddress,
    Feedback,
    Ticket,
    TicketMessage,
    User,
    session_scope,
)
from models.migrate import upgrade
from models.types import Channel, IncomingMessage
from router.catalog import load_catalog
from router.intake import Intake
from router.lifecycle import actions
from router.runtime import Runtime, build_runtime, use_runtime
from router.status_link import page_url
from tests.api.test_portal_follow import SIGN_IN_LINK
from tests.conftest import CATALOG, drain, make_settings
from tests.support.browser import serving, shot
from tests.support.mail import Relay, relaying
from tests.support.workflow import Staff, make_staff, make_ticket

ANNA = "anna.smirnova@corp.example.com"
TIMEOUT = 30_000


@pytest.fixture(scope="module")
def relay() -> Iterator[Relay]:
    with relaying() as box:
        yield box


@pytest.fixture(scope="module")
def runtime(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, relay: Relay
) -> Iterator[Runtime]:
    tmp = tmp_path_factory.mktemp("follow")
    settings = make_settings(tmp, f"sqlite:///{tmp / 'okno.db'}", redis_url)
    upgrade(settings.effective_database_url)
    rt = build_runtime(settings)
    rt.redis.flushdb()
    with session_scope(rt.sessions) as session:
        load_catalog(CATALOG, session=session)
        person = Employee(
            email=ANNA, name="Анна Смирнова", phone="+79161234567", language="ru", active=True
        )
        session.add(person)
        session.flush()
        session.add(EmployeeAddress(employee_id=person.id, channel="telegram", address="5550001"))
    use_runtime(rt)
    yield rt
    use_runtime(None)
    rt.redis.flushdb()
    rt.close()


@pytest.fixture(scope="module")
def server(runtime: Runtime) -> Iterator[str]:
    with serving(runtime) as url:
        yield url


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="ru-RU", viewport={"width": 900, "height": 1000})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def staff(runtime: Runtime) -> Staff:
    found = make_staff(runtime)
    # A specialist with a real name, for the screenshots.
    with session_scope(runtime.sessions) as session:
        user = session.get(User, found.hr.id)
        assert user is not None
        user.name = "Ольга Васильева"
    return found


def submit(
    runtime: Runtime,
    key: str,
    text: str,
    *,
    channel: Channel = Channel.webform,
    sender: str = ANNA,
    service: str = "hr_certificate",
) -> int:
    result = Intake(runtime).accept(
        IncomingMessage(
            channel=channel,
            external_id=key,
            sender_address=sender,
            sender_name="Анна Смирнова",
            subject=text.split(".")[0],
            text=text,
            service_hint=service,
            language="ru",
        )
    )
    drain(runtime)
    return result.message_id


def number_of(runtime: Runtime, message_id: int) -> str:
    with runtime.sessions() as session:
        number = session.scalar(select(Ticket.number).where(Ticket.source_message_id == message_id))
        assert number
        return number


def has_text(page: Any, selector: str, text: str) -> None:
    page.wait_for_function(
        "([s, t]) => (document.querySelector(s) || {textContent: ''}).textContent.includes(t)",
        arg=[selector, text],
        timeout=TIMEOUT,
    )


def test_status_page_follows_the_request_live_then_rates_and_replies(
    page: Any, server: str, runtime: Runtime, staff: Staff
) -> None:
    mid = submit(runtime, "follow-1", "Нужна справка 2-НДФЛ за прошлый год для ипотеки.")
    number = number_of(runtime, mid)
    page.goto(page_url(server, runtime.secret_key, mid))
    has_text(page, "#t-number", number)
    assert page.text_content("#t-team") == "Кадровое администрирование"
    assert "зарегистрировано" in page.text_content("#conversation")

    with runtime.sessions() as session:  # a specialist comments later: the page shows it
        actions.comment(
            session=session,
            ticket_number=number,
            user_id=staff.hr.id,
            text="Запросили справку в бухгалтерии, будет готова завтра.",
            public=True,
        )
        actions.comment(
            session=session,
            ticket_number=number,
            user_id=staff.hr.id,
            text="внутреннее: бухгалтерия просила не торопить",
            public=False,
        )
        session.commit()
    has_text(page, "#conversation", "будет готова завтра")
    assert "внутреннее" not in page.text_content("#conversation")

    with runtime.sessions() as session:  # and then the resolution
        actions.resolve(
            session=session,
            ticket_number=number,
            user_id=staff.hr.id,
            resolution="Справка 2-НДФЛ готова, её можно забрать в отделе кадров, каб. 214.",
        )
        session.commit()
    has_text(page, "#t-status", "решено")
    has_text(page, "#conversation", "каб. 214")
    page.wait_for_selector("#rating-links a.rate[data-n='5']", timeout=TIMEOUT)
    shot(page, "portal-status.png")

    page.click("#rating-links a.rate[data-n='5']")  # the one-tap rating page of router/ratings
    has_text(page, "body", "5 из 5")
    with runtime.sessions() as session:
        assert session.scalar(select(Feedback.rating)) == 5
    page.go_back()
    has_text(page, "#rating-given", "5 из 5")

    page.fill("#reply-text", "Спасибо! А можно ещё копию на английском?")
    page.set_input_files(
        "#reply-files",
        files=[{"name": "образец.txt", "mimeType": "text/plain", "buffer": "Образец".encode()}],
    )
    page.click("#reply-send")
    page.wait_for_selector("#reply-done", state="visible", timeout=TIMEOUT)
    drain(runtime)
    has_text(page, "#conversation", "копию на английском")
    has_text(page, "#conversation", "образец.txt")
    with runtime.sessions() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None and ticket.status not in ("resolved", "closed")
        assert session.scalar(select(TicketMessage.body).order_by(TicketMessage.id.desc())) == (
            "Спасибо! А можно ещё копию на английском?"
        )
    has_text(page, "#t-status", "новое")


def test_status_page_cancels_an_onboarding_and_shows_its_steps_stopped(
    page: Any, server: str, runtime: Runtime
) -> None:
    text = "С понедельника выходит новый аналитик, Иван Сидоров."
    mid = submit(runtime, "follow-cancel", text, service="hr_onboarding")
    number = number_of(runtime, mid)
    page.goto(page_url(server, runtime.secret_key, mid))
    has_text(page, "#t-number", number)
    page.wait_for_selector("#steps li", timeout=TIMEOUT)
    assert page.locator("#steps li").count() == 5
    assert page.locator("#steps li.planned").count() == 4
    assert not page.is_visible("#cancel-form")

    page.click("#cancel")  # an inline confirm, not window.confirm
    page.wait_for_selector("#cancel-form", state="visible", timeout=TIMEOUT)
    assert "5" in page.text_content("#cancel-process")
    assert "остановлены" in page.text_content("#cancel-process")
    page.click("#cancel-no")  # changing one's mind cancels nothing
    page.wait_for_selector("#cancel-form", state="hidden", timeout=TIMEOUT)
    page.click("#cancel")
    page.fill("#cancel-reason", "Кандидат отказался от оффера.")
    page.click("#cancel-yes")

    has_text(page, "#t-status", "закрыто")
    page.wait_for_function(
        "() => document.querySelectorAll('#steps li.closed').length === 5", timeout=TIMEOUT
    )
    assert page.is_visible("#cancel-done") and not page.is_visible("#cancel-box")
    with runtime.sessions() as session:
        parent = session.scalar(select(Ticket).where(Ticket.number == number))
        assert parent is not None and parent.status == "closed"
        kids = session.scalars(select(Ticket).where(Ticket.parent_id == parent.id)).all()
        assert {k.status for k in kids} == {"closed"}
        assert all("Кандидат отказался" in (k.resolution or "") for k in kids)
    page.click("text=EN")
    has_text(page, "#steps-box h2", "Steps")


def test_sign_in_link_from_the_mail_opens_my_requests_and_a_reply_from_there(
    page: Any, server: str, runtime: Runtime, relay: Relay, staff: Staff
) -> None:
    submit(runtime, "mine-web", "Не приходит расчётный листок за ноябрь.")
    submit(runtime, "mine-mail", "Нужна справка о доходах.", channel=Channel.email)
    # Chat and call tickets made directly: the pipeline would try to answer in the chat.
    with runtime.sessions() as session:
        for channel, address, text in (
            ("telegram", "5550001", "Оформите, пожалуйста, отпуск с 10 марта."),
            ("phone", "+79161234567", "Прошу справку с места работы."),
        ):
            subject = text.split(".")[0]
            make_ticket(session, channel=channel, requester=address, subject=subject, text=text)
        session.commit()
    submit(runtime, "other", "Чужое обращение.", sender="someone.else@corp.example.com")
    before = len(relay.messages)

    page.goto(server + "/my")
    page.wait_for_selector("#signin-email", state="visible", timeout=TIMEOUT)
    page.fill("#signin-email", ANNA)
    page.click("#signin-send")
    page.wait_for_selector("#signin-done", state="visible", timeout=TIMEOUT)
    drain(runtime)
    assert len(relay.messages) == before + 1
    link = SIGN_IN_LINK.search(relay.text())
    assert link is not None

    page.goto(link.group(0))
    page.wait_for_selector("#tickets a.ticket-link", timeout=TIMEOUT)
    assert page.url.endswith("/my")
    listing = page.text_content("#tickets")
    assert "Чужое обращение" not in listing
    for text in ("расчётный листок", "справка о доходах", "отпуск с 10 марта", "справку с места"):
        assert text.lower() in listing.lower()
    channels = page.eval_on_selector_all(
        "#tickets tbody tr td:nth-child(5)", "t => t.map(x => x.textContent)"
    )
    assert set(channels) == {"Telegram", "e-mail", "портал", "телефон"}
    shot(page, "portal-my-requests.png")

    page.click("text=EN")
    has_text(page, "#list h1", "My requests")
    page.click("text=RU")

    row = page.locator("#tickets tbody tr", has_text="отпуск")
    number = row.locator("a.ticket-link").text_content()
    row.locator("a.ticket-link").click()
    has_text(page, "#t-number", number)
    has_text(page, "#conversation", "отпуск с 10 марта")
    page.fill("#reply-text", "Даты можно сдвинуть на неделю.")
    page.click("#reply-send")
    page.wait_for_selector("#reply-done", state="visible", timeout=TIMEOUT)
    drain(runtime)
    has_text(page, "#conversation", "сдвинуть на неделю")
    with runtime.sessions() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None and ticket.origin_channel == "telegram"
        last = session.scalar(
            select(TicketMessage.body)
            .where(TicketMessage.ticket_id == ticket.id)
            .order_by(TicketMessage.id.desc())
        )
        assert last == "Даты можно сдвинуть на неделю."

    page.click("#back a")
    page.wait_for_selector("#tickets a.ticket-link", timeout=TIMEOUT)
    page.click("#signout")
    page.wait_for_selector("#signin-email", state="visible", timeout=TIMEOUT)


def test_a_used_sign_in_link_says_so(page: Any, server: str) -> None:
    page.goto(server + "/my/sign-in/not-a-real-token")
    has_text(page, "#problem", "недействительна")
    assert re.search(r"/my\?link=expired$", page.url)
