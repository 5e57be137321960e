"""Threading: which messages may continue an existing ticket."""

from __future__ import annotations

from sqlalchemy import select

from models.db import Ticket
from router import jobs
from router.intake import Intake
from router.runtime import Runtime
from tests.support.messages import form


def test_a_form_cannot_continue_a_ticket_by_number(runtime: Runtime) -> None:
    intake = Intake(runtime)
    number = jobs.process_message(intake.accept(form("f-own")).message_id)
    claim = form(
        "f-claim",
        subject=f"Re: {number}",
        text="пришлите на mallory@evil.example",
        service_hint=None,
    )
    assert jobs.process_message(intake.accept(claim).message_id) != number
    with runtime.sessions() as session:
        first = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert len(first.messages) == 1
        assert not first.requester_verified  # a typed-in address proves nothing
