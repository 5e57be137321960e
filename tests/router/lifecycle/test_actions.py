"""The lifecycle state machine and the single-ticket actions, on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from models.db import Feedback, NotificationRow, Ticket, TicketEvent
from models.types import TicketStatus, utcnow
from router import sla
from router.lifecycle import actions, states
from router.lifecycle.states import ANY_STATUS, TRANSITIONS, check
from router.runtime import Runtime
from tests.support.workflow import Staff, make_staff, make_ticket


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    with runtime.sessions() as s:
        yield s


def kinds(session: Session, ticket: Ticket) -> list[str]:
    rows = session.scalars(
        select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    )
    return list(rows)


def test_full_lifecycle(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session)
    number, uid = ticket.number or "", staff.hr.id
    assert (
        actions.claim(session=session, ticket_number=number, user_id=uid).ticket.status
        == "assigned"
    )
    assert ticket.assignee_id == uid
    actions.start(session=session, ticket_number=number, user_id=uid)
    asked = actions.ask(
        session=session, ticket_number=number, user_id=uid, text="Сколько экземпляров?"
    )
    assert ticket.status == "waiting_for_requester" and ticket.sla_paused_at is not None
    assert [n.kind for n in asked.notifications] == ["clarify"]
    assert "Сколько экземпляров?" in asked.notifications[0].text
    due = ticket.resolution_due_at
    actions.start(session=session, ticket_number=number, user_id=uid)
    # Paused working time does not count (tests/router/lifecycle/test_sla_clocks.py measures it).
    assert ticket.sla_paused_at is None and due is not None and ticket.resolution_due_at is not None
    assert ticket.resolution_due_at >= due
    assert {"sla_paused", "sla_resumed"} <= set(kinds(session, ticket))
    done = actions.resolve(session=session, ticket_number=number, user_id=uid, resolution="Готово")
    note = done.notifications[0]
    assert note.kind == "resolved" and note.extra["feedback_request"] is True
    assert ticket.resolved_at is not None and ticket.first_response_at is not None
    actions.record_feedback(
        session=session, ticket_number=number, rating=5, comment="ok", channel="webform"
    )
    actions.close(session=session, ticket_number=number, user_id=uid)
    assert ticket.status == "closed" and ticket.closed_at is not None
    reopened = actions.reopen(session=session, ticket_number=number, user_id=uid, reason="не то")
    assert ticket.status == "assigned" and ticket.closed_at is None and ticket.resolved_at is None
    assert [n.kind for n in reopened.notifications] == ["status"]
    session.commit()
    assert kinds(session, ticket).count("status") == 7
    assert {"created", "assigned", "asked", "feedback"} <= set(kinds(session, ticket))


@pytest.mark.parametrize("status", [s.value for s in TicketStatus])
@pytest.mark.parametrize("action", list(TRANSITIONS))
def test_every_action_from_every_status(action: str, status: str) -> None:
    ticket = Ticket(status=status, assignee_id=None)
    if status in TRANSITIONS[action]:
        assert check(ticket, action) in {s.value for s in TicketStatus}
        return
    with pytest.raises(states.InvalidTransition) as err:
        check(ticket, action)
    allowed = err.value.details["allowed"]
    assert action not in allowed and all(status in TRANSITIONS[a] for a in allowed)
    assert err.value.details["status"] == status and action in err.value.message


def test_every_status_is_reachable_and_reopen_goes_back_to_the_assignee() -> None:
    targets = {to for moves in TRANSITIONS.values() for to in moves.values()}
    # `planned` is where a later stage's sub-ticket starts (router/lifecycle/processes.py).
    assert targets | {"assigned", "planned"} == {s.value for s in TicketStatus}
    assert check(Ticket(status="closed", assignee_id=7), "reopen") == "assigned"
    assert check(Ticket(status="resolved", assignee_id=None), "reopen") == "new"


def test_invalid_transition_names_the_allowed_ones(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session)
    actions.close(session=session, ticket_number=ticket.number or "", user_id=staff.hr.id)
    with pytest.raises(states.InvalidTransition) as err:
        actions.resolve(
            session=session, ticket_number=ticket.number or "", user_id=staff.hr.id, resolution="x"
        )
    assert err.value.details["allowed"] == ["reopen", "feedback"]
    assert "allowed from closed: reopen, feedback" in err.value.message
    assert set(states.allowed_actions("closed")) == {"reopen", "feedback", *ANY_STATUS}


def test_stale_version_is_refused_before_any_change(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session)
    session.commit()
    version = ticket.version
    actions.claim(session=session, ticket_number=ticket.number or "", user_id=staff.hr.id)
    session.commit()
    assert ticket.version == version + 1
    with pytest.raises(states.VersionMismatch) as err:
        actions.comment(
            session=session,
            ticket_number=ticket.number or "",
            user_id=staff.hr.id,
            text="late",
            public=True,
            expected_version=version,
        )
    assert err.value.details["current"] == version + 1
    assert session.scalar(select(func.count(NotificationRow.id))) == 0


def test_concurrent_writers_raise_stale_data(
    runtime: Runtime, session: Session, staff: Staff
) -> None:
    ticket = make_ticket(session)
    session.commit()
    with runtime.sessions() as other:
        actions.claim(session=other, ticket_number=ticket.number or "", user_id=staff.hr2.id)
        actions.start(session=session, ticket_number=ticket.number or "", user_id=staff.hr.id)
        other.commit()
    with pytest.raises(StaleDataError):
        session.commit()


def test_claim_keeps_a_colleagues_ticket(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session)
    actions.claim(session=session, ticket_number=ticket.number or "", user_id=staff.hr.id)
    actions.claim(session=session, ticket_number=ticket.number or "", user_id=staff.hr.id)
    with pytest.raises(states.Conflict) as err:
        actions.claim(session=session, ticket_number=ticket.number or "", user_id=staff.hr2.id)
    assert err.value.code == "already_assigned" and "hr@ssc.example.com" in err.value.message


def test_assign_only_to_members_of_the_team(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session)
    number = ticket.number or ""
    with pytest.raises(states.InvalidInput) as err:
        actions.assign(
            session=session,
            ticket_number=number,
            user_id=staff.lead.id,
            assignee_id=staff.payroll.id,
        )
    assert err.value.code == "assignee_not_in_team"
    with pytest.raises(states.InvalidInput):
        actions.assign(
            session=session, ticket_number=number, user_id=staff.lead.id, assignee_id=99999
        )
    actions.assign(
        session=session, ticket_number=number, user_id=staff.lead.id, assignee_id=staff.hr2.id
    )
    assert ticket.assignee_id == staff.hr2.id and ticket.status == "assigned"


def test_internal_comment_never_reaches_the_requester(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session)
    number = ticket.number or ""
    internal = actions.comment(
        session=session,
        ticket_number=number,
        user_id=staff.hr.id,
        text="сверить с 1С",
        public=False,
    )
    assert internal.notifications == [] and ticket.first_response_at is None
    public = actions.comment(
        session=session, ticket_number=number, user_id=staff.hr.id, text="Готовим", public=True
    )
    [note] = public.notifications
    assert (note.kind, note.channel, note.recipient) == (
        "comment",
        "webform",
        ticket.requester_address,
    )
    assert "Готовим" in note.text and ticket.first_response_at is not None
    session.commit()
    assert session.scalar(select(func.count(NotificationRow.id))) == 1
    directions = [m.direction for m in ticket.messages]
    assert directions == ["inbound", "internal", "outbound"]


def test_public_comment_without_recipient_is_recorded_as_undelivered(
    session: Session, staff: Staff
) -> None:
    ticket = make_ticket(session, requester=None)
    result = actions.comment(
        session=session,
        ticket_number=ticket.number or "",
        user_id=staff.hr.id,
        text="?",
        public=True,
    )
    assert result.notifications == []
    with pytest.raises(states.Conflict) as err:  # nobody would get the question
        actions.ask(
            session=session, ticket_number=ticket.number or "", user_id=staff.hr.id, text="?"
        )
    assert err.value.code == "requester_unreachable" and ticket.status == "new"
    session.commit()
    event = session.scalars(select(TicketEvent).where(TicketEvent.kind == "comment")).one()
    assert event.data["notified"] is False


def test_close_from_open_tells_the_requester_but_not_after_resolve(
    session: Session, staff: Staff
) -> None:
    first, second = make_ticket(session), make_ticket(session)
    closed = actions.close(
        session=session, ticket_number=first.number or "", user_id=staff.hr.id, reason="дубль"
    )
    assert [n.kind for n in closed.notifications] == ["status"]
    session.commit()
    assert first.messages[-1].body == "Closed: дубль" and first.messages[-1].direction == "internal"
    actions.resolve(
        session=session, ticket_number=second.number or "", user_id=staff.hr.id, resolution="ok"
    )
    assert (
        actions.close(
            session=session, ticket_number=second.number or "", user_id=staff.hr.id
        ).notifications
        == []
    )


def test_feedback_one_per_ticket_and_only_when_resolved(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session)
    number = ticket.number or ""
    with pytest.raises(states.InvalidTransition):
        actions.record_feedback(
            session=session, ticket_number=number, rating=5, comment=None, channel="telegram"
        )
    actions.resolve(session=session, ticket_number=number, user_id=staff.hr.id, resolution="ok")
    bad_ratings: list[Any] = [0, 6, True, "5"]
    for bad in bad_ratings:
        with pytest.raises(states.InvalidInput):
            actions.record_feedback(
                session=session, ticket_number=number, rating=bad, comment=None, channel="telegram"
            )
    actions.record_feedback(
        session=session, ticket_number=number, rating=2, comment=None, channel="telegram"
    )
    actions.record_feedback(
        session=session, ticket_number=number, rating=4, comment="лучше", channel="telegram"
    )
    session.commit()
    [row] = session.scalars(select(Feedback)).all()
    assert (row.rating, row.comment, row.channel) == (4, "лучше", "telegram")
    events = session.scalars(select(TicketEvent).where(TicketEvent.kind == "feedback")).all()
    assert [(e.from_value, e.to_value) for e in events] == [(None, "2"), ("2", "4")]
    with pytest.raises(states.TicketNotFound):
        actions.record_feedback(
            session=session, ticket_number="OKNO-999999", rating=5, comment=None, channel="telegram"
        )


def test_reopen_pushes_due_dates_by_the_time_spent_resolved(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session)
    number, uid = ticket.number or "", staff.hr.id
    actions.resolve(session=session, ticket_number=number, user_id=uid, resolution="ok")
    assert ticket.sla_paused_at is not None
    actions.close(session=session, ticket_number=number, user_id=uid)
    assert ticket.sla_paused_at is not None  # closing a resolved ticket keeps the clock stopped
    # Resolved on time five days ago: the due date has passed since, but not while it was open.
    five_days = timedelta(days=5)
    ticket.sla_paused_at = utcnow() - five_days
    ticket.resolution_due_at = utcnow() - timedelta(days=4)
    due = ticket.resolution_due_at
    actions.reopen(session=session, ticket_number=number, user_id=uid)
    assert ticket.sla_paused_at is None and ticket.resolution_due_at >= due + five_days
    assert not sla.is_overdue(ticket, utcnow())


def test_resolving_while_waiting_keeps_the_earlier_pause(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session)
    number, uid = ticket.number or "", staff.hr.id
    actions.ask(session=session, ticket_number=number, user_id=uid, text="?")
    paused = utcnow() - timedelta(hours=3)
    ticket.sla_paused_at = paused
    actions.resolve(session=session, ticket_number=number, user_id=uid, resolution="ok")
    assert ticket.sla_paused_at == paused


def test_feedback_with_a_stale_version_is_refused(session: Session, staff: Staff) -> None:
    ticket = make_ticket(session)
    number = ticket.number or ""
    actions.resolve(session=session, ticket_number=number, user_id=staff.hr.id, resolution="ok")
    session.flush()
    with pytest.raises(states.VersionMismatch):
        actions.record_feedback(
            session=session,
            ticket_number=number,
            rating=5,
            comment=None,
            channel="webform",
            expected_version=ticket.version + 5,
        )
    assert session.scalar(select(func.count()).select_from(Feedback)) == 0
