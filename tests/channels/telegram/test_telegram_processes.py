"""A Telegram requester and a process, through the Bot API stand-in: one message per milestone,
and /cancel stops the whole process with one answer in the chat."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select

from models.db import Ticket, TicketEvent, session_scope
from models.types import utcnow
from router import jobs
from router.lifecycle import actions
from router.lifecycle.processes import fan_out
from router.runtime import Runtime
from tests.channels.telegram.botapi_standin import BotApiStandin
from tests.channels.telegram.conftest import ANNA_CHAT, Bot, reply_to, update, with_text
from tests.conftest import drain
from tests.support.workflow import Staff, make_staff, make_ticket

UPDATES = itertools.count(700100000)


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


def onboarding(runtime: Runtime) -> tuple[str, list[str]]:
    """Anna's onboarding request, as the bot's intake leaves it: a parent and its five steps."""
    with session_scope(runtime.sessions) as session:
        parent = make_ticket(
            session,
            service="hr_onboarding",
            channel="telegram",
            requester=str(ANNA_CHAT),
            subject="Новый сотрудник Иван Сидоров",
        )
        kids = fan_out(parent, session=session, now=utcnow())
        session.flush()
        return parent.number or "", [k.number or "" for k in kids]


def resolve(runtime: Runtime, staff: Staff, number: str) -> None:
    """A specialist resolves a step; whatever the outbox gets is sent through the stand-in."""
    with session_scope(runtime.sessions) as session:
        done = actions.resolve(
            session=session,
            ticket_number=number,
            user_id=staff.admin.id,
            resolution=f"Готово: {number}",
        )
        session.flush()
        ids = done.notification_ids
    jobs.enqueue_send(runtime, ids)
    drain(runtime)


def texts_in_chat(standin: BotApiStandin) -> list[str]:
    return [str(m["text"]) for m in standin.sent(ANNA_CHAT)]


def command(text: str) -> dict[str, Any]:
    data = with_text(update("status.json"), text, update_id=next(UPDATES))
    data["message"]["message_id"] = data["update_id"] % 100000
    data["message"]["entities"][0]["length"] = len(text.split(" ")[0])
    return data


def test_one_message_per_milestone_not_per_step(
    bot: Bot, standin: BotApiStandin, runtime: Runtime, staff: Staff
) -> None:
    number, (hr, *rest) = onboarding(runtime)
    resolve(runtime, staff, hr)
    (started,) = texts_in_chat(standin)  # IT, facilities and security have started
    assert number in started and all(n in started for n in rest) and hr not in started
    for step in rest:
        resolve(runtime, staff, step)
    assert len(standin.sent(ANNA_CHAT)) == 2  # four steps resolved, one "all done"
    done = standin.sent(ANNA_CHAT)[-1]
    assert "Все этапы выполнены" in done["text"] and all(
        f"Готово: {n}" in done["text"] for n in rest
    )
    stars = [key["text"] for key in done["reply_markup"]["inline_keyboard"][0]]
    assert stars[-1] == "⭐" * 5  # the rating request of the whole process
    late = reply_to(with_text(update("reply_to_bot.json"), "отменить"), int(done["_id"]))
    bot.receive(late)  # too late to cancel: said so, and the finished process is not reopened
    assert "уже не отменить" in texts_in_chat(standin)[-1]
    with session_scope(runtime.sessions) as session:
        parent = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert parent.status == "resolved"


def test_cancel_command_stops_the_process_with_one_answer(
    bot: Bot, standin: BotApiStandin, runtime: Runtime, staff: Staff
) -> None:
    number, (hr, *rest) = onboarding(runtime)
    resolve(runtime, staff, hr)
    assert len(standin.sent(ANNA_CHAT)) == 1
    bot.receive(command("/cancel"))
    assert "/cancel OKNO-000123" in texts_in_chat(standin)[-1]  # usage, nothing else
    bot.receive(command(f"/cancel {hr}"))  # a step: the process is cancelled as a whole
    assert f"/cancel {number}" in texts_in_chat(standin)[-1]
    bot.receive(command(f"/cancel {number.lower()} кандидат отказался"))
    answer = texts_in_chat(standin)[-1]
    assert "отменено" in answer and all(n in answer for n in rest) and hr not in answer
    assert len(standin.sent(ANNA_CHAT)) == 4  # usage, the step refused, the one cancellation
    with session_scope(runtime.sessions) as session:
        kids = session.scalars(
            select(Ticket).where(Ticket.number.in_([hr, *rest])).order_by(Ticket.id)
        ).all()
        assert [k.status for k in kids] == ["resolved", "closed", "closed", "closed", "closed"]
        assert all("кандидат отказался" in (k.resolution or "") for k in kids[1:])
        actors = session.scalars(
            select(TicketEvent.actor).where(
                TicketEvent.ticket_id.in_([k.id for k in kids[1:]]),
                TicketEvent.kind == "status",
                TicketEvent.to_value == "closed",
            )
        ).all()
        assert set(actors) == {"requester via telegram"}
    bot.receive(command(f"/cancel {number}"))
    assert "уже не отменить" in texts_in_chat(standin)[-1]
    bot.receive(command("/cancel OKNO-999999"))
    assert "Среди ваших обращений нет OKNO-999999" in texts_in_chat(standin)[-1]


def test_replying_cancel_to_a_milestone_stops_the_process(
    bot: Bot, standin: BotApiStandin, runtime: Runtime, staff: Staff
) -> None:
    number, (hr, *rest) = onboarding(runtime)
    resolve(runtime, staff, hr)
    started = standin.sent(ANNA_CHAT)[-1]
    answer = reply_to(with_text(update("reply_to_bot.json"), "Отменить"), int(started["_id"]))
    bot.receive(answer)
    cancelled = texts_in_chat(standin)[-1]
    assert len(standin.sent(ANNA_CHAT)) == 2 and "отменено" in cancelled
    assert all(n in cancelled for n in rest)
    with session_scope(runtime.sessions) as session:
        parent = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert parent.status == "closed"
        kids = session.scalars(select(Ticket).where(Ticket.parent_id == parent.id)).all()
        assert sorted(k.status for k in kids) == ["closed"] * 4 + ["resolved"]
