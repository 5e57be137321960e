"""A reassigned request tells its requester which team has it now (issue #17)."""

from __future__ import annotations

from sqlalchemy import select

from models.db import NotificationRow
from router.lifecycle.moves import reassign
from router.runtime import Runtime
from tests.support.workflow import make_staff, make_ticket


def test_the_requester_hears_which_team_has_the_request_now(runtime: Runtime) -> None:
    staff = make_staff(runtime)
    with runtime.sessions() as session:
        ticket = make_ticket(session, service="hr_certificate", language="ru")
        out = reassign(
            session=session,
            ticket_number=ticket.number or "",
            user_id=staff.hr.id,
            service_code="pay_2ndfl",
            reason="это 2-НДФЛ",
        )
        session.commit()
        (note,) = session.scalars(select(NotificationRow)).all()
        assert out.notification_ids == [note.id]
        assert note.recipient == ticket.requester_address and note.kind == "status"
        assert note.text.startswith(f"Обращение {ticket.number} передано команде")
        assert "payroll" not in note.text  # the team's name in Russian, not its code


def test_a_service_change_within_the_team_says_nothing(runtime: Runtime) -> None:
    staff = make_staff(runtime)
    with runtime.sessions() as session:
        ticket = make_ticket(session, service=None, team="hr")
        out = reassign(
            session=session,
            ticket_number=ticket.number or "",
            user_id=staff.hr.id,
            service_code="hr_certificate",
            reason="справка",
        )
        session.commit()
        assert out.notification_ids == []
