"""The intake → job → ticket pipeline against real Redis and SQL: idempotency and no loss."""

from __future__ import annotations

from datetime import timedelta

from redis import Redis
from sqlalchemy import func, select

from models.db import Employee, InboundMessage, NotificationRow, Ticket, TicketLink
from models.settings import Settings
from models.types import Channel, IncomingMessage, utcnow
from router import jobs, notify, sla
from router.intake import Intake
from router.runtime import Runtime, build_runtime
from router.sweeper import sweep
from tests.conftest import drain


def message(external_id: str = "m-1", **kw: object) -> IncomingMessage:
    fields: dict[str, object] = {
        "channel": Channel.webform,
        "external_id": external_id,
        "sender_address": "ivan@corp.example.com",
        "sender_name": "Иван",
        "subject": "Нужна справка",
        "text": "Нужна справка с места работы",
        "service_hint": "hr_certificate",
    }
    fields.update(kw)
    return IncomingMessage.model_validate(fields)


def count(runtime: Runtime, model: type) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_job_run_twice_makes_one_ticket(runtime: Runtime) -> None:
    result = Intake(runtime).accept(message())
    first = jobs.process_message(result.message_id)
    second = jobs.process_message(result.message_id)
    assert first == second and first is not None
    assert count(runtime, Ticket) == 1
    assert count(runtime, NotificationRow) == 1


def test_redis_outage_keeps_message_and_sweeper_enqueues_it(
    runtime: Runtime, settings: Settings
) -> None:
    broken = build_runtime(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    try:
        result = Intake(broken).accept(message("outage"))
    finally:
        broken.close()
    assert not result.duplicate
    with runtime.sessions() as session:
        assert session.get(InboundMessage, result.message_id).status == "queued"
    assert runtime.queue("intake").count == 0
    report = sweep(runtime, older_than=timedelta(0))
    assert report.messages == 1
    assert sweep(runtime, older_than=timedelta(0)).messages == 0  # a live job is not doubled
    drain(runtime)
    assert count(runtime, Ticket) == 1
    with runtime.sessions() as session:
        assert session.get(InboundMessage, result.message_id).status == "processed"


def test_sweeper_resends_stranded_notification(runtime: Runtime, redis_client: Redis) -> None:
    Intake(runtime).accept(message())
    drain(runtime, ("intake",))  # "created" goes inside the intake job; a later send…
    with runtime.sessions.begin() as session:
        note = notify.outbox(session.scalars(select(Ticket)).one(), "comment", "c", session=session)
        session.flush()
        note_id = note.id if note else 0
    jobs.enqueue_send(runtime, [note_id])  # …is queued…
    redis_client.flushdb()  # …and lost with Redis' memory
    assert sweep(runtime, older_than=timedelta(0)).notifications == 1
    drain(runtime)
    with runtime.sessions() as session:
        assert session.scalars(select(NotificationRow.status)).all() == ["sent", "sent"]


def test_reply_by_number_joins_ticket_and_reopens(runtime: Runtime) -> None:
    intake = Intake(runtime)
    number = jobs.process_message(intake.accept(message(channel=Channel.email)).message_id)
    with runtime.sessions.begin() as session:
        ticket = session.scalars(select(Ticket)).one()
        ticket.status, ticket.resolved_at = "resolved", utcnow()
    reply = message(
        "m-2",
        subject=f"Re: [{number}] Нужна справка",
        text="Справка не пришла",
        service_hint=None,
        channel=Channel.email,
    )
    assert jobs.process_message(intake.accept(reply).message_id) == number
    with runtime.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.status == "new"
        assert [m.direction for m in ticket.messages] == ["inbound", "inbound"]
        # The worker's reopen is the same lifecycle move the API makes, recorded the same way.
        moves = [(e.kind, e.data.get("action"), e.actor) for e in ticket.events]
        assert ("status", "reopen", "requester") in moves


def test_reply_after_grace_window_starts_linked_ticket(runtime: Runtime) -> None:
    intake = Intake(runtime)
    number = jobs.process_message(intake.accept(message(channel=Channel.email)).message_id)
    with runtime.sessions.begin() as session:
        ticket = session.scalars(select(Ticket)).one()
        ticket.status, ticket.closed_at = "closed", utcnow() - timedelta(days=30)
    reply = message(
        "m-3",
        subject=f"Re: [{number}]",
        text="Опять нужна справка",
        service_hint=None,
        channel=Channel.email,
    )
    new_number = jobs.process_message(intake.accept(reply).message_id)
    assert new_number != number
    with runtime.sessions() as session:
        link = session.scalars(select(TicketLink)).one()
        new = session.scalar(select(Ticket).where(Ticket.number == new_number))
        assert link.ticket_id == new.id and new.service_code == "hr_certificate"


def test_ticket_number_from_a_stranger_does_not_thread(runtime: Runtime) -> None:
    intake = Intake(runtime)
    number = jobs.process_message(intake.accept(message()).message_id)
    other = message(
        "m-4", sender_address="mallory@evil.example", subject=f"[{number}] hi", service_hint=None
    )
    assert jobs.process_message(intake.accept(other).message_id) != number


def test_auto_reply_and_bounce_never_make_tickets(runtime: Runtime) -> None:
    intake = Intake(runtime)
    auto = message("ooo", service_hint=None, meta={"auto_submitted": True})
    bounce = message("dsn", service_hint=None, meta={"bounce": True})
    for m in (auto, bounce):
        jobs.process_message(intake.accept(m).message_id)
    assert count(runtime, Ticket) == 0
    with runtime.sessions() as session:
        rows = session.execute(select(InboundMessage.external_id, InboundMessage.status))
        statuses = {r[0]: r[1] for r in rows}
    assert statuses == {"ooo": "rejected", "dsn": "processed"}


def test_known_employee_is_verified_and_answered_in_own_timezone(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        session.add(
            Employee(
                name="Иван",
                email="ivan@corp.example.com",
                timezone="Asia/Yekaterinburg",
                language="ru",
            )
        )
    jobs.process_message(Intake(runtime).accept(message(channel=Channel.email)).message_id)
    with runtime.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
        note = session.scalars(select(NotificationRow)).one()
    assert ticket.requester_verified and ticket.requester_id is not None
    assert "Asia/Yekaterinburg" in note.text


def test_requester_reply_reopens_without_counting_the_resolved_time(runtime: Runtime) -> None:
    intake = Intake(runtime)
    number = jobs.process_message(intake.accept(message("r-1")).message_id)
    five_days_ago = utcnow() - timedelta(days=5)
    with runtime.sessions.begin() as session:
        ticket = session.scalars(select(Ticket)).one()
        ticket.status, ticket.resolved_at = "resolved", five_days_ago
        sla.pause(ticket, five_days_ago, finished=True)  # the clocks stopped at the resolution
    reply = message(
        "r-2",
        channel=Channel.email,
        subject=f"Re: [{number}]",
        text="Не помогло",
        service_hint=None,
    )
    assert jobs.process_message(intake.accept(reply).message_id) == number
    with runtime.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.status == "new" and ticket.sla_paused_at is None
        assert ticket.resolution_due_at is not None and ticket.resolution_due_at > utcnow()


def test_grace_window_runs_from_resolution_not_from_a_later_close(runtime: Runtime) -> None:
    intake = Intake(runtime)
    number = jobs.process_message(intake.accept(message("g-1")).message_id)
    with runtime.sessions.begin() as session:
        ticket = session.scalars(select(Ticket)).one()
        ticket.status = "closed"
        ticket.resolved_at = utcnow() - timedelta(days=12)
        ticket.closed_at = utcnow() - timedelta(days=6)
    reply = message(
        "g-2",
        channel=Channel.email,
        subject=f"Re: [{number}]",
        text="Снова нужна",
        service_hint=None,
    )
    assert jobs.process_message(intake.accept(reply).message_id) != number


def test_an_address_linked_to_a_person_wins_over_another_persons_email(runtime: Runtime) -> None:
    """One statement finds an e-mail sender (router/pipeline._lookup_employee, issue #20): the
    person the address is linked to first, else the one with that e-mail in any case; a linked
    person who left is an unknown sender, not the other one."""
    from models.db import EmployeeAddress
    from router.pipeline import find_employee

    with runtime.sessions.begin() as session:
        anna = Employee(name="Anna", email="anna@corp.example.com")
        boris = Employee(name="Boris", email="Boris@corp.example.com")
        gone = Employee(name="Gone", email="gone@corp.example.com", active=False)
        session.add_all([anna, boris, gone])
        session.flush()
        # Boris's old address now reaches Anna; the gone one's alias is Boris's e-mail too.
        session.add(
            EmployeeAddress(employee_id=anna.id, channel="email", address="old@corp.example.com")
        )
        session.add(
            EmployeeAddress(
                employee_id=gone.id, channel="webform", address="boris@corp.example.com"
            )
        )
    found = {}
    with runtime.sessions() as session:
        for channel, address in [
            (Channel.email, "old@corp.example.com"),
            (Channel.email, "BORIS@corp.example.com"),
            (Channel.email, "boris@corp.example.com"),
            (Channel.webform, "boris@corp.example.com"),
            (Channel.webform, "nobody@corp.example.com"),
        ]:
            person = find_employee(
                message(channel=channel, sender_address=address), session=session
            )
            found[(channel.value, address)] = person.name if person else None
    assert found == {
        ("email", "old@corp.example.com"): "Anna",
        ("email", "BORIS@corp.example.com"): "Boris",
        ("email", "boris@corp.example.com"): "Boris",
        ("webform", "boris@corp.example.com"): None,  # linked to the one who left
        ("webform", "nobody@corp.example.com"): None,
    }
