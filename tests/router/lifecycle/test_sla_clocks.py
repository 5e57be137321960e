"""SLA clocks end to end on the shipped catalogue: working-time pauses, re-plans, warnings and
breaches that fire exactly once under two sweepers and a restart, escalation mail to the lead."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Employee, NotificationRow, Service, SlaClock, Ticket, TicketEvent
from models.settings import Settings
from models.types import Channel, IncomingMessage
from router import analytics, jobs, sla
from router.intake import Intake
from router.lifecycle import sla_clocks
from router.lifecycle.records import add_ticket
from router.runtime import Runtime, build_runtime
from router.sla_sweep import sla_tick
from tests.support.workflow import REQUESTER, make_staff

MSK = ZoneInfo("Europe/Moscow")
START = datetime(2027, 3, 1, 9, tzinfo=MSK)  # a Monday; ru_office works 09-13, 14-18


def msk(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 3, day, hour, minute, tzinfo=MSK)


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    with runtime.sessions() as s:
        yield s


def open_ticket(session: Session, service: str = "hr_certificate") -> Ticket:
    """hr_certificate: 4 h to respond, 24 h to resolve, on ru_office (8 working hours a day)."""
    svc = session.scalars(select(Service).where(Service.code == service)).one()
    ticket = Ticket(
        subject="Справка",
        service_code=svc.code,
        team_code=svc.team_code,
        priority=svc.priority,
        origin_channel="webform",
        requester_address=REQUESTER,
    )
    add_ticket(ticket, session=session)
    sla.set_due_dates(ticket, svc, START, session=session)
    session.commit()
    return ticket


def sla_events(session: Session, ticket: Ticket, kind: str | None = None) -> list[TicketEvent]:
    query = select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.kind.like("sla_%")
    )
    if kind:
        query = query.where(TicketEvent.kind == kind)
    return list(session.scalars(query.order_by(TicketEvent.id)))


def test_clocks_start_on_the_calendar_with_an_event_each(session: Session) -> None:
    ticket = open_ticket(session)
    assert ticket.response_due_at == msk(1, 13)
    assert ticket.resolution_due_at == msk(3, 18)  # three full working days
    started = sla_events(session, ticket, "sla_started")
    assert [e.data["clock"] for e in started] == ["response", "resolution"]
    assert datetime.fromisoformat(started[1].data["due_at"]) == msk(3, 18)
    assert started[1].data["elapsed_seconds"] == 0 and started[1].data["calendar"] == "ru_office"


def test_pause_stops_the_clock_in_working_time(session: Session) -> None:
    ticket = open_ticket(session)
    sla.pause(ticket, msk(1, 11))  # two working hours spent
    sla.resume(ticket, msk(2, 10))  # the requester answered on Tuesday morning
    session.commit()
    assert ticket.response_due_at == msk(2, 12)  # 2 h left from Tue 10:00
    # 22 h left: Tue 10-13, 14-18 (7 h), Wednesday (8 h), Thursday 09-13, 14-17 (7 h).
    assert ticket.resolution_due_at == msk(4, 17)
    paused = sla_events(session, ticket, "sla_paused")
    assert [e.data["elapsed_seconds"] for e in paused] == [7200, 7200]
    resumed = sla_events(session, ticket, "sla_resumed")
    assert resumed[1].data["cycle"] == 1 and datetime.fromisoformat(
        resumed[1].data["due_at"]
    ) == msk(4, 17)


def test_a_night_of_waiting_outside_hours_costs_nothing(session: Session) -> None:
    ticket = open_ticket(session)
    before = ticket.resolution_due_at
    sla.pause(ticket, msk(1, 18, 30))
    sla.resume(ticket, msk(2, 8, 30))
    assert ticket.resolution_due_at == before


def test_response_stops_at_the_first_public_reply_and_is_met(session: Session) -> None:
    ticket = open_ticket(session)
    sla.responded(ticket, msk(1, 10))
    session.commit()
    clock = clocks(session, ticket)["response"]
    assert clock.met is True and clock.next_check_at is None
    met = sla_events(session, ticket, "sla_met")
    assert [(e.data["clock"], e.data["elapsed_seconds"]) for e in met] == [("response", 3600)]


def test_reassignment_replans_on_the_new_calendar_keeping_elapsed(session: Session) -> None:
    ticket = open_ticket(session)
    sla.pause(ticket, msk(1, 12))  # 3 working hours
    sla.resume(ticket, msk(1, 12))
    ticket.team_code, ticket.service_code = "security", "sec_incident"
    ticket.priority = "critical"
    svc = session.scalars(select(Service).where(Service.code == "sec_incident")).one()
    # The security incident runs 24x7: 8 h to resolve, 3 already spent → 5 h from now.
    sla_clocks.plan_ticket(ticket, svc, START, session=session, now=msk(1, 12))
    assert ticket.resolution_due_at == msk(1, 17)
    replanned = sla_events(session, ticket, "sla_started")[-1]
    assert replanned.data["replanned"] is True and replanned.data["calendar"] == "always"


def clocks(session: Session, ticket: Ticket) -> dict[str, SlaClock]:
    return sla_clocks.clocks_of(ticket, session=session)


def test_warning_and_breach_fire_once_under_two_workers_and_a_restart(
    runtime: Runtime, settings: Settings
) -> None:
    staff = make_staff(runtime)
    with runtime.sessions() as session:
        ticket = open_ticket(session)
        session.get(Service, ticket.service.id if ticket.service else 0)
        svc = session.scalars(select(Service).where(Service.code == "hr_certificate")).one()
        svc.raise_priority_on_breach = True
        session.commit()
        ticket_id = ticket.id
    second = build_runtime(settings)  # another worker process, its own engine and pool
    try:
        for moment in (msk(1, 12, 12), msk(1, 12, 13), msk(1, 13), msk(1, 13, 1)):
            both = [
                threading.Thread(target=sla_tick, args=(rt,), kwargs={"now": moment})
                for rt in (runtime, second)
            ]
            for thread in both:
                thread.start()
            for thread in both:
                thread.join()
    finally:
        second.close()
    restarted = build_runtime(settings)  # a restart: nothing in memory, all in the database
    try:
        sla_tick(restarted, now=msk(1, 13, 2))
    finally:
        restarted.close()
    with runtime.sessions() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        fired = [
            (e.kind, e.data["clock"])
            for e in sla_events(session, ticket)
            if e.kind in ("sla_warning", "sla_breached")
        ]
        assert fired == [("sla_warning", "response"), ("sla_breached", "response")]
        assert ticket.priority == "high"  # raised one step, once
        mails = session.scalars(
            select(NotificationRow)
            .where(NotificationRow.ticket_id == ticket_id)
            .order_by(NotificationRow.id)
        ).all()
        assert [(m.kind, m.recipient) for m in mails] == [
            ("sla_warning", "hr@ssc.example.com"),
            ("sla_warning", staff.lead.email),
            ("sla_breached", staff.lead.email),
        ]
        assert all(m.channel == "email" and m.extra["internal"] for m in mails)
        assert "нарушен" in mails[2].text and ticket.number in mails[2].subject


def test_sweep_reads_only_clocks_whose_moment_has_come(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        ticket = open_ticket(session)
        ticket_id = ticket.id
    first = sla_tick(runtime, now=msk(1, 9))
    assert first.checked == 2 and not first.warnings  # planned: next checks at the 80 % marks
    assert sla_tick(runtime, now=msk(1, 12)).checked == 0
    with runtime.sessions() as session:
        response = clocks(session, session.get(Ticket, ticket_id))["response"]  # type: ignore[arg-type]
        assert response.next_check_at == msk(1, 12, 12)


def test_a_new_pause_cycle_may_warn_again_but_a_breach_stays_single(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        ticket = open_ticket(session)
        ticket_id = ticket.id
    sla_tick(runtime, now=msk(1, 12, 30))
    with runtime.sessions() as session:
        ticket = session.get(Ticket, ticket_id)  # type: ignore[assignment]
        sla.pause(ticket, msk(1, 12, 40))
        sla.resume(ticket, msk(2, 9))
        session.commit()
    sla_tick(runtime, now=msk(2, 9, 1))
    sla_tick(runtime, now=msk(2, 10))
    sla_tick(runtime, now=msk(2, 11))
    with runtime.sessions() as session:
        ticket = session.get(Ticket, ticket_id)  # type: ignore[assignment]
        fired = [
            (e.kind, e.data["cycle"])
            for e in sla_events(session, ticket)
            if e.data["clock"] == "response" and e.kind in ("sla_warning", "sla_breached")
        ]
    assert fired == [("sla_warning", 0), ("sla_warning", 1), ("sla_breached", 1)]


def test_compliance_per_team_service_and_channel_from_the_events(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        answered, late = open_ticket(session), open_ticket(session)
        sla.responded(answered, msk(1, 10))
        session.commit()
    sla_tick(runtime, now=msk(1, 13, 30))  # the second one is late by then
    with runtime.sessions() as session:
        stats = analytics.summarize(session=session, where=[])
        sla.responded(session.get(Ticket, late.id), msk(1, 14))  # type: ignore[arg-type]
        session.commit()
    response = stats["sla_compliance"]["response"]
    assert response["by_team"]["hr"] == {"met": 1, "breached": 1, "compliance": 0.5}
    assert response["by_service"]["hr_certificate"]["breached"] == 1
    assert response["by_channel"]["webform"]["met"] == 1
    with runtime.sessions() as session:  # answering late does not turn a breach into a met
        again = analytics.summarize(session=session, where=[])["sla_compliance"]["response"]
    assert again["by_team"]["hr"] == {"met": 1, "breached": 1, "compliance": 0.5}


def test_a_novosibirsk_requester_is_promised_novosibirsk_hours_in_their_zone(
    runtime: Runtime,
) -> None:
    with runtime.sessions.begin() as session:
        session.add(Employee(name="Ольга", email="olga@corp.example.com", branch="nsk"))
    request = IncomingMessage.model_validate(
        {
            "channel": Channel.webform,
            "external_id": "nsk-1",
            "sender_address": "olga@corp.example.com",
            "sender_name": "Ольга",
            "subject": "Нужна справка",
            "text": "Нужна справка с места работы",
            "service_hint": "hr_certificate",
        }
    )
    number = jobs.process_message(Intake(runtime).accept(request).message_id)
    with runtime.sessions() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert clocks(session, ticket)["response"].calendar == "nsk_office"
        note = session.scalars(
            select(NotificationRow).where(NotificationRow.kind == "created")
        ).one()
        nsk = ZoneInfo("Asia/Novosibirsk")
        assert ticket.response_due_at is not None
        promised = ticket.response_due_at.astimezone(nsk).strftime("%d.%m.%Y %H:%M")
        assert promised in note.text and "Asia/Novosibirsk" in note.text
        assert 9 <= ticket.response_due_at.astimezone(nsk).hour <= 18
