"""Reassign, merge and link: the audit trail, the training label, the SLA, the links."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Service, TicketEvent, TicketLink
from router.lifecycle import actions, states
from router.lifecycle.calendar import add_working
from router.lifecycle.moves import link, merge, reassign
from router.lifecycle.sla_plan import load_calendar
from router.runtime import Runtime
from tests.support.workflow import Staff, make_staff, make_ticket


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    with runtime.sessions() as s:
        yield s


def service(session: Session, code: str) -> Service:
    found = session.scalar(select(Service).where(Service.code == code))
    assert found is not None
    return found


def test_reassign_corrects_the_label_and_audits_it(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session, service="hr_certificate", predicted="hr_certificate")
    number = ticket.number or ""
    actions.claim(session=session, ticket_number=number, user_id=staff.hr.id)
    reassign(
        session=session,
        ticket_number=number,
        user_id=staff.hr.id,
        service_code="pay_2ndfl",
        reason="это 2-НДФЛ",
    )
    session.commit()
    assert (ticket.service_code, ticket.team_code) == ("pay_2ndfl", "payroll")
    assert ticket.predicted_service_code == "hr_certificate"
    assert ticket.assignee_id is None and ticket.status == "new"
    event = session.scalars(select(TicketEvent).where(TicketEvent.kind == "reassigned")).one()
    assert (event.from_value, event.to_value) == ("hr:hr_certificate", "payroll:pay_2ndfl")
    assert event.data["reason"] == "это 2-НДФЛ" and event.actor == staff.hr.email
    assert event.data["predicted_service"] == "hr_certificate"


def test_reassign_recomputes_due_dates_keeping_paused_time(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session, service="hr_certificate")
    created = ticket.created_at
    target = service(session, "legal_contract_review")
    reassign(
        session=session,
        ticket_number=ticket.number or "",
        user_id=staff.hr.id,
        service_code=target.code,
        reason="договор",
    )
    # The working time spent so far carries over; what is left runs on the new target.
    calendar = load_calendar("ru_office", session=session)
    assert calendar is not None
    expected = add_working(calendar, created, timedelta(hours=target.resolution_hours))
    assert ticket.resolution_due_at is not None
    assert abs(ticket.resolution_due_at - expected) < timedelta(seconds=1)
    assert ticket.priority == target.priority


def test_reassign_to_a_team_only_and_bad_destinations(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session, service=None)
    number, uid = ticket.number or "", staff.hr.id
    cases = [
        ({}, "no_destination"),
        ({"team_code": "nope"}, "unknown_team"),
        ({"service_code": "nope"}, "unknown_service"),
        ({"service_code": "pay_2ndfl", "team_code": "hr"}, "service_not_in_team"),
    ]
    for kwargs, code in cases:
        with pytest.raises(states.InvalidInput) as err:
            reassign(session=session, ticket_number=number, user_id=uid, reason="r", **kwargs)  # type: ignore[arg-type]
        assert err.value.code == code
    reassign(session=session, ticket_number=number, user_id=uid, team_code="it_desk", reason="ИТ")
    assert (ticket.service_code, ticket.team_code) == (None, "it_desk")
    with pytest.raises(states.Conflict) as again:
        reassign(
            session=session, ticket_number=number, user_id=uid, team_code="it_desk", reason="r"
        )
    assert again.value.code == "no_change"


def test_reassign_a_waiting_ticket_keeps_it_waiting(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session)
    number = ticket.number or ""
    actions.ask(session=session, ticket_number=number, user_id=staff.hr.id, text="?")
    reassign(
        session=session, ticket_number=number, user_id=staff.hr.id, team_code="legal", reason="r"
    )
    assert ticket.status == "waiting_for_requester" and ticket.sla_paused_at is not None
    actions.close(session=session, ticket_number=number, user_id=staff.hr.id)
    with pytest.raises(states.InvalidTransition):
        reassign(
            session=session, ticket_number=number, user_id=staff.hr.id, team_code="hr", reason="r"
        )


def test_merge_closes_the_duplicate_into_the_original(session: Session, staff: Staff) -> None:
    original, duplicate = make_ticket(session), make_ticket(session, requester="b@corp.example.com")
    result = merge(
        session=session,
        ticket_number=duplicate.number or "",
        into_number=original.number or "",
        user_id=staff.hr.id,
    )
    session.commit()
    assert duplicate.status == "closed" and duplicate.merged_into_id == original.id
    [note] = result.notifications
    assert note.recipient == "b@corp.example.com" and (original.number or "") in note.text
    kinds = {(e.ticket_id, e.kind) for e in session.scalars(select(TicketEvent))}
    assert {(duplicate.id, "merged_into"), (original.id, "merged")} <= kinds
    assert session.scalars(select(TicketLink)).one().kind == "duplicate"
    with pytest.raises(states.Conflict) as err:
        actions.reopen(session=session, ticket_number=duplicate.number or "", user_id=staff.hr.id)
    assert err.value.code == "merged" and (original.number or "") in err.value.message


def test_merge_refuses_itself_and_closed_targets(session: Session, staff: Staff) -> None:
    one, two = make_ticket(session), make_ticket(session)
    with pytest.raises(states.InvalidInput):
        merge(
            session=session,
            ticket_number=one.number or "",
            into_number=one.number or "",
            user_id=staff.hr.id,
        )
    actions.close(session=session, ticket_number=two.number or "", user_id=staff.hr.id)
    with pytest.raises(states.Conflict):
        merge(
            session=session,
            ticket_number=one.number or "",
            into_number=two.number or "",
            user_id=staff.hr.id,
        )
    with pytest.raises(states.InvalidTransition):
        merge(
            session=session,
            ticket_number=two.number or "",
            into_number=one.number or "",
            user_id=staff.hr.id,
        )
    with pytest.raises(states.TicketNotFound):
        merge(
            session=session,
            ticket_number=one.number or "",
            into_number="OKNO-999999",
            user_id=staff.hr.id,
        )


def test_link_once_in_either_direction(session: Session, staff: Staff) -> None:
    one, two = make_ticket(session), make_ticket(session)
    version = two.version
    link(
        session=session,
        ticket_number=one.number or "",
        other_number=two.number or "",
        user_id=staff.hr.id,
        kind="blocks",
    )
    session.commit()
    assert two.version == version + 1
    events = session.scalars(select(TicketEvent).where(TicketEvent.kind == "linked")).all()
    assert {(e.ticket_id, e.to_value) for e in events} == {
        (one.id, two.number),
        (two.id, one.number),
    }
    with pytest.raises(states.Conflict) as err:
        link(
            session=session,
            ticket_number=two.number or "",
            other_number=one.number or "",
            user_id=staff.hr.id,
        )
    assert err.value.code == "already_linked"
    with pytest.raises(states.InvalidInput):
        link(
            session=session,
            ticket_number=one.number or "",
            other_number=two.number or "",
            user_id=staff.hr.id,
            kind="parent",
        )
