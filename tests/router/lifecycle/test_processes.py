"""Processes in stages: sub-tickets planned from the start, stages in order, a parent that follows."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import NotificationRow, ProcessTemplate, Service, Ticket, TicketEvent, TicketMessage
from models.types import utcnow
from router.catalog import process_stages
from router.lifecycle import actions, process_cancel, processes, states
from router.lifecycle.processes import fan_out, stages_of
from router.runtime import Runtime
from tests.support.workflow import Staff, make_staff, make_ticket

FIELDS = {"start_date": "2027-01-11", "position": "Analyst", "manager_email": "boss@corp.example"}


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    with runtime.sessions() as s:
        yield s


def start(session: Session, service: str = "hr_onboarding") -> Ticket:
    parent = make_ticket(session, service=service, subject="Новый сотрудник Иван Сидоров")
    fan_out(parent, session=session, now=utcnow(), fields=FIELDS)
    session.commit()
    return parent


def children(session: Session, parent: Ticket) -> list[Ticket]:
    rows = select(Ticket).where(Ticket.parent_id == parent.id).order_by(Ticket.id)
    return list(session.scalars(rows.execution_options(populate_existing=True)))


def notes(session: Session, ticket: Ticket) -> list[NotificationRow]:
    rows = select(NotificationRow).where(NotificationRow.ticket_id == ticket.id)
    return list(session.scalars(rows.order_by(NotificationRow.id)))


def resolve(session: Session, ticket: Ticket, staff: Staff, text: str = "Готово") -> None:
    number = ticket.number or ""
    actions.resolve(session=session, ticket_number=number, user_id=staff.admin.id, resolution=text)
    session.commit()


def test_onboarding_starts_with_hr_and_plans_the_rest(session: Session) -> None:
    parent = start(session)
    kids = children(session, parent)
    assert [(k.service_code, k.stage, k.status) for k in kids] == [
        ("hr_onboarding", 0, "new"),
        ("access_account", 1, "planned"),
        ("it_equipment_request", 1, "planned"),
        ("fac_workplace", 1, "planned"),
        ("sec_badge", 1, "planned"),
    ]
    assert kids[0].resolution_due_at is not None
    assert all(k.resolution_due_at is None and k.response_due_at is None for k in kids[1:])
    assert all(k.process_fields == FIELDS for k in kids) and parent.process_fields == FIELDS


def test_planned_ticket_is_not_actionable(session: Session, staff: Staff) -> None:
    planned = children(session, start(session))[1]
    for action in (actions.claim, actions.start):
        with pytest.raises(states.InvalidTransition):
            action(session=session, ticket_number=planned.number or "", user_id=staff.admin.id)


def test_next_stage_opens_in_parallel_when_the_stage_is_done(
    session: Session, staff: Staff
) -> None:
    parent = start(session)
    hr, *rest = children(session, parent)
    actions.start(session=session, ticket_number=hr.number or "", user_id=staff.hr.id)
    session.commit()
    assert parent.status == "in_progress"  # the parent follows its first worked-on child
    assert all(k.status == "planned" for k in children(session, parent)[1:])
    before = utcnow()
    resolve(session, hr, staff, "Приказ подписан")
    opened = children(session, parent)[1:]
    assert {k.status for k in opened} == {"new"}
    assert all(k.resolution_due_at and k.resolution_due_at > before for k in opened)
    assert [n.kind for n in notes(session, hr)] == []  # sub-tickets do not talk on their own
    milestone = [n for n in notes(session, parent) if n.kind == "status"]
    assert len(milestone) == 1 and all(k.number in milestone[0].text for k in opened)
    moves = session.scalars(
        select(TicketEvent).where(
            TicketEvent.ticket_id == opened[0].id, TicketEvent.kind == "status"
        )
    ).all()
    assert [(e.from_value, e.to_value, e.data["action"]) for e in moves] == [
        ("planned", "new", "open_stage")
    ]


def test_parent_resolves_with_a_summary_when_the_last_child_is_done(
    session: Session, staff: Staff
) -> None:
    parent = start(session)
    hr, account, laptop, desk, badge = children(session, parent)
    resolve(session, hr, staff, "Приказ подписан")
    for kid in (account, laptop, desk):
        resolve(session, kid, staff, f"Сделано: {kid.service_code}")
    assert parent.status == "in_progress"
    actions.close(
        session=session, ticket_number=badge.number or "", user_id=staff.admin.id, reason="есть"
    )
    session.commit()
    session.refresh(parent)
    assert parent.status == "resolved" and parent.resolution
    assert "Приказ подписан" in parent.resolution and "Сделано: fac_workplace" in parent.resolution
    assert "закрыто как ненужное" in parent.resolution
    kinds = [n.kind for n in notes(session, parent)]
    assert kinds == ["status", "resolved"]  # next stage started; all done (with a rating request)


def test_cancelling_the_parent_closes_open_and_planned_children(
    session: Session, staff: Staff
) -> None:
    parent = start(session)
    actions.close(
        session=session,
        ticket_number=parent.number or "",
        user_id=staff.lead.id,
        reason="кандидат отказался",
    )
    session.commit()
    kids = children(session, parent)
    assert {k.status for k in kids} == {"closed"}
    assert all("кандидат отказался" in (k.resolution or "") for k in kids)
    events = session.scalars(
        select(TicketEvent).where(
            TicketEvent.ticket_id == kids[-1].id, TicketEvent.kind == "status"
        )
    ).all()
    assert [(e.from_value, e.to_value) for e in events] == [("planned", "closed")]
    internal = session.scalars(
        select(TicketMessage.body).where(TicketMessage.ticket_id == kids[0].id)
    ).all()
    assert any("кандидат отказался" in body for body in internal)
    assert [n.kind for n in notes(session, parent)] == ["status"]  # one message: cancelled


def test_reopening_a_child_reopens_the_resolved_parent(session: Session, staff: Staff) -> None:
    parent = start(session)
    for kid in children(session, parent):
        resolve(session, kid, staff)
    session.refresh(parent)
    assert parent.status == "resolved"
    laptop = children(session, parent)[2]
    actions.reopen(
        session=session, ticket_number=laptop.number or "", user_id=staff.admin.id, reason="брак"
    )
    session.commit()
    session.refresh(parent)
    moves = session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == parent.id, TicketEvent.kind == "status")
    ).all()
    # Back to work, and at once in progress: the other children were worked on.
    assert [e.data["action"] for e in moves][-2:] == ["reopen", "follow"]
    assert parent.status == "in_progress" and parent.resolved_at is None
    resolve(session, laptop, staff, "Заменили ноутбук")
    session.refresh(parent)
    assert parent.status == "resolved" and "Заменили ноутбук" in (parent.resolution or "")


def test_legacy_flat_template_is_one_parallel_stage(session: Session) -> None:
    flat = {"steps": [{"service": "fac_workplace"}, {"service": "sec_badge"}]}
    assert process_stages(flat) == [flat["steps"]]
    template = session.scalars(
        select(ProcessTemplate).where(ProcessTemplate.code == "onboarding")
    ).one()
    template.stages, template.steps = [], flat["steps"]  # as loaded before stages existed
    kids = children(session, start(session))
    assert [(k.service_code, k.stage, k.status) for k in kids] == [
        ("fac_workplace", 0, "new"),
        ("sec_badge", 0, "new"),
    ]


def test_a_template_changed_since_the_last_fan_out_is_the_one_used(runtime: Runtime) -> None:
    """Templates are kept by the per-process catalogue cache (issue #20), which a change clears."""
    with runtime.sessions() as first:
        assert len(children(first, start(first))) == 5  # the template now cached
    with runtime.sessions() as editor:
        template = editor.scalars(
            select(ProcessTemplate).where(ProcessTemplate.code == "onboarding")
        ).one()
        template.stages = [[{"service": "sec_badge"}], [{"service": "fac_workplace"}]]
        editor.commit()
    with runtime.sessions() as later:
        kids = children(later, start(later))
        assert [(k.service_code, k.stage, k.status) for k in kids] == [
            ("sec_badge", 0, "new"),
            ("fac_workplace", 1, "planned"),
        ]


def test_business_trip_runs_three_stages(session: Session, staff: Staff) -> None:
    parent = start(session, "hr_business_trip")
    approval, tickets, hotel, advance = children(session, parent)
    assert [k.stage for k in (approval, tickets, hotel, advance)] == [0, 1, 1, 2]
    resolve(session, approval, staff)
    resolve(session, tickets, staff)
    assert advance.status == "planned"  # the hotel is still being booked
    resolve(session, hotel, staff)
    session.refresh(advance)
    assert advance.status == "new"


def test_two_workers_finishing_the_last_two_children_open_the_next_stage_once(
    runtime: Runtime, staff: Staff
) -> None:
    """The parent's row lock makes the second worker wait and then see the first one's commit."""
    if runtime.settings.effective_database_url.startswith("sqlite"):
        pytest.skip("row locks: PostgreSQL (SQLite serialises writers on its own)")
    with runtime.sessions() as session:
        parent = start(session, "hr_business_trip")
        approval, tickets, hotel, advance = children(session, parent)
        resolve(session, approval, staff)
        numbers, parent_id, advance_id = [tickets.number, hotel.number], parent.id, advance.id
    first_resolved, errors = threading.Event(), []

    def worker(number: str | None, hold: bool) -> None:
        try:
            with runtime.sessions() as s:
                if not hold:
                    first_resolved.wait(10)
                actions.resolve(
                    session=s, ticket_number=number or "", user_id=staff.admin.id, resolution="ok"
                )
                if hold:  # resolved but not committed while the other worker resolves its own
                    first_resolved.set()
                    threading.Event().wait(0.5)
                s.commit()
        except Exception as exc:  # noqa: BLE001 - the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n, i == 0)) for i, n in enumerate(numbers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with runtime.sessions() as session:
        opened = session.scalars(
            select(TicketEvent).where(
                TicketEvent.ticket_id == advance_id, TicketEvent.kind == "status"
            )
        ).all()
        assert [e.data["action"] for e in opened] == ["open_stage"]
        milestones = session.scalars(
            select(NotificationRow).where(
                NotificationRow.ticket_id == parent_id, NotificationRow.kind == "status"
            )
        ).all()
        assert len(milestones) == 2  # tickets and hotel started; then the advance, once


@pytest.mark.parametrize(
    ("channel", "requester"),
    [
        ("webform", "a.petrova@corp.example.com"),
        ("telegram", "111111111"),
        ("email", "a@corp.example.com"),
    ],
)
def test_milestones_go_to_the_origin_channel_once_each(
    session: Session, staff: Staff, channel: str, requester: str
) -> None:
    parent = make_ticket(session, service="hr_onboarding", channel=channel, requester=requester)
    fan_out(parent, session=session, now=utcnow())
    session.commit()
    kids = children(session, parent)
    for kid in kids:
        resolve(session, kid, staff)
    rows = session.scalars(select(NotificationRow).order_by(NotificationRow.id)).all()
    assert [(r.ticket_id, r.kind, r.channel, r.recipient) for r in rows] == [
        (parent.id, "status", channel, requester),  # IT, facilities and security have started
        (parent.id, "resolved", channel, requester),  # all done
    ]
    assert all(k.number in rows[0].text for k in kids[1:])


def status_moves(session: Session, ticket: Ticket) -> list[tuple[str | None, str | None, str, str]]:
    rows = select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "status"
    )
    return [
        (e.from_value, e.to_value, e.data["action"], e.actor or "")
        for e in session.scalars(rows.order_by(TicketEvent.id))
    ]


def test_requester_cancels_the_process_with_its_open_and_planned_steps(
    session: Session, staff: Staff
) -> None:
    parent = start(session)
    hr, account, laptop, desk, badge = children(session, parent)
    resolve(session, hr, staff, "Приказ подписан")
    actions.start(session=session, ticket_number=laptop.number or "", user_id=staff.admin.id)
    session.commit()
    before = len(notes(session, parent))
    done = process_cancel.cancel(
        parent, session=session, via="webform", now=utcnow(), reason="кандидат отказался"
    )
    session.commit()
    kids = children(session, parent)
    assert [k.status for k in kids] == ["resolved", "closed", "closed", "closed", "closed"]
    assert done.stopped == [k.number for k in kids[1:]]
    assert parent.status == "closed" and "кандидат отказался" in (parent.resolution or "")
    assert status_moves(session, parent)[-1] == (
        "in_progress",
        "closed",
        "cancel",
        "requester via webform",
    )
    assert status_moves(session, kids[2])[-1] == (
        "in_progress",
        "closed",
        "close",
        "requester via webform",
    )
    assert all("кандидат отказался" in (k.resolution or "") for k in kids[1:])
    assert kids[2].resolution_due_at is not None and kids[2].sla_paused_at is not None
    told = notes(session, parent)[before:]
    assert [n.kind for n in told] == ["status"]  # one message, naming every stopped step
    assert all(k.number in told[0].text for k in kids[1:]) and hr.number not in told[0].text
    assert all(notes(session, k) == [] for k in kids)


def test_requester_cannot_cancel_what_is_done_or_one_step_of_a_process(
    session: Session, staff: Staff
) -> None:
    parent = start(session)
    hr = children(session, parent)[0]
    with pytest.raises(states.Conflict) as step:
        process_cancel.cancel(hr, session=session, via="telegram", now=utcnow())
    assert step.value.code == "part_of_process" and parent.number in step.value.message
    for kid in children(session, parent):
        resolve(session, kid, staff)
    session.refresh(parent)
    assert parent.status == "resolved"
    with pytest.raises(states.Conflict) as done:
        process_cancel.cancel(parent, session=session, via="webform", now=utcnow())
    assert done.value.code == "not_cancellable" and "already resolved" in done.value.message
    session.rollback()
    assert parent.status == "resolved"


def test_a_parent_is_not_resolved_over_its_open_steps(session: Session, staff: Staff) -> None:
    """409 naming the steps still to do; the parent resolves itself when they are done."""
    parent = start(session)
    kids = children(session, parent)
    with pytest.raises(states.Conflict) as refused:
        resolve(session, parent, staff, "Всё сделано")
    assert refused.value.code == "open_children"
    assert refused.value.details["children"] == [k.number for k in kids]
    session.rollback()
    for kid in kids:
        resolve(session, kid, staff, f"Сделано: {kid.service_code}")
    session.refresh(parent)
    assert parent.status == "resolved" and "Сделано: sec_badge" in (parent.resolution or "")


@pytest.mark.parametrize(
    ("text", "cancels"),
    [
        ("Отменить", True),
        ("отмените заявку!", True),
        ("Cancel the request.", True),
        ("cancel", True),
        ("Отмена брони или перенос?", False),
        ("Please cancel my laptop order but keep the rest", False),
        ("", False),
    ],
)
def test_only_a_bare_cancel_word_is_a_cancel_reply(text: str, cancels: bool) -> None:
    assert process_cancel.asks_to_cancel(text) is cancels


@pytest.mark.parametrize("who", ["requester", "lead"])
def test_cancel_racing_a_finishing_step_does_not_deadlock(
    runtime: Runtime, staff: Staff, monkeypatch: pytest.MonkeyPatch, who: str
) -> None:
    """The requester cancels while a specialist resolves a step: one wins, neither deadlocks.

    The step's resolve updates the step, then waits for the parent's lock; the cancel must
    not hold the parent and then wait for that step (PostgreSQL would kill one of the two as a
    deadlock), so it locks the steps first, the parent second.
    """
    if runtime.settings.effective_database_url.startswith("sqlite"):
        pytest.skip("row locks: PostgreSQL (SQLite serialises writers on its own)")
    with runtime.sessions() as session:
        parent = start(session)
        hr = children(session, parent)[0]
        parent_id, hr_number = parent.id, hr.number or ""
    locked, errors = threading.Event(), []
    real = process_cancel.cancel_children

    def slow_cancel_children(*args: object, **kwargs: object) -> list[Ticket]:
        locked.set()  # the cancel holds its locks; the resolve starts now and waits on them
        threading.Event().wait(0.5)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(process_cancel, "cancel_children", slow_cancel_children)
    monkeypatch.setattr(processes, "cancel_children", slow_cancel_children)

    def cancel() -> None:
        try:
            with runtime.sessions() as s:
                ticket = s.get(Ticket, parent_id)
                assert ticket is not None
                if who == "requester":
                    process_cancel.cancel(ticket, session=s, via="webform", now=utcnow())
                else:
                    number, lead = ticket.number or "", staff.lead.id
                    actions.close(session=s, ticket_number=number, user_id=lead, reason="нет")
                s.commit()
        except Exception as exc:  # noqa: BLE001 - the assertion below names it
            errors.append(exc)

    def finish() -> None:
        locked.wait(10)
        try:
            with runtime.sessions() as s:
                actions.resolve(
                    session=s, ticket_number=hr_number, user_id=staff.admin.id, resolution="ok"
                )
                s.commit()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=cancel), threading.Thread(target=finish)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # The cancel won; the resolve found its step changed under it (the API's 409), no deadlock.
    assert [type(e).__name__ for e in errors] == ["StaleDataError"]
    with runtime.sessions() as session:
        kids = session.scalars(select(Ticket).where(Ticket.parent_id == parent_id)).all()
        assert {k.status for k in kids} == {"closed"}
        assert session.get(Ticket, parent_id).status == "closed"  # type: ignore[union-attr]


def test_the_catalogue_ships_the_three_processes_in_their_order(session: Session) -> None:
    """Onboarding HR first; offboarding access first; a trip's approval, travel, then advance."""
    shipped = {
        t.code: [[step["service"] for step in stage] for stage in stages_of(t)]
        for t in session.scalars(select(ProcessTemplate))
    }
    assert shipped == {
        "onboarding": [
            ["hr_onboarding"],
            ["access_account", "it_equipment_request", "fac_workplace", "sec_badge"],
        ],
        "offboarding": [
            ["access_revoke"],
            ["sec_badge", "it_equipment_return", "pay_final_settlement"],
        ],
        "business_trip": [
            ["hr_business_trip"],
            ["proc_travel", "proc_travel"],
            ["pay_expense_report"],
        ],
    }
    starters = session.execute(
        select(Service.code, Service.process).where(Service.process.is_not(None))
    ).all()
    assert sorted(starters) == [
        ("hr_business_trip", "business_trip"),
        ("hr_offboarding", "offboarding"),
        ("hr_onboarding", "onboarding"),
    ]


def test_offboarding_revokes_access_before_the_rest(session: Session, staff: Staff) -> None:
    parent = make_ticket(session, service="hr_offboarding", subject="Увольнение Петра Смирнова")
    fan_out(parent, session=session, now=utcnow(), fields={"last_day": "2027-02-01"})
    session.commit()
    access, *rest = children(session, parent)
    assert (access.service_code, access.status) == ("access_revoke", "new")
    assert {k.status for k in rest} == {"planned"}
    resolve(session, access, staff, "Доступы отозваны")
    assert {k.status for k in children(session, parent)[1:]} == {"new"}


@pytest.mark.parametrize("how", ["claim", "ask"])
def test_any_work_on_a_step_puts_the_parent_in_progress(
    session: Session, staff: Staff, how: str
) -> None:
    parent = start(session)
    hr = children(session, parent)[0]
    if how == "claim":
        actions.claim(session=session, ticket_number=hr.number or "", user_id=staff.hr.id)
    else:
        actions.ask(
            session=session, ticket_number=hr.number or "", user_id=staff.hr.id, text="Когда?"
        )
    session.commit()
    session.refresh(parent)
    assert parent.status == "in_progress"
    assert status_moves(session, parent) == [("new", "in_progress", "follow", "process")]
