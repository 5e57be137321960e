"""A request history with known timings, requesters and outcomes, for analytics and suggestions."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from models.db import Employee, Feedback, Ticket, TicketEvent
from router.tickets import add_message, add_ticket

MONDAY = datetime(2026, 1, 5, 9, 0)  # week 2026-01-05; the next starts 2026-01-12


def employee(session: Session, name: str, department: str, branch: str) -> Employee:
    person = Employee(
        name=name, email=f"{name}@corp.example.com", department=department, branch=branch
    )
    session.add(person)
    session.flush()
    return person


def add(
    session: Session,
    *,
    service: str | None,
    team: str,
    requester: Employee | None = None,
    day: float = 0,
    channel: str = "webform",
    text: str = "Нужна справка с места работы",
    response_h: float | None = None,
    resolve_h: float | None = None,
    response_due_h: float | None = None,
    resolution_due_h: float | None = None,
    predicted: str | None = None,
    routing: str | None = None,
    reassigned_from: str | None = None,
    rating: int | None = None,
) -> Ticket:
    """One ticket as the pipeline and the specialists would have left it."""
    created = MONDAY + timedelta(days=day)

    def at(hours: float | None) -> datetime | None:
        return None if hours is None else created + timedelta(hours=hours)

    ticket = Ticket(
        subject=text[:60],
        service_code=service,
        predicted_service_code=predicted,
        team_code=team,
        status="resolved" if resolve_h is not None else "new",
        origin_channel=channel,
        requester_id=requester.id if requester else None,
        requester_address=requester.email if requester else "someone@corp.example.com",
        routing=routing or ("service" if predicted else "triage"),
        created_at=created,
        first_response_at=at(response_h),
        resolved_at=at(resolve_h),
        response_due_at=at(response_due_h),
        resolution_due_at=at(resolution_due_h),
    )
    add_ticket(ticket, session=session)
    add_message(ticket, session=session, direction="inbound", body=text, channel=channel)
    if reassigned_from is not None:
        session.add(
            TicketEvent(
                ticket_id=ticket.id,
                kind="reassigned",
                from_value=reassigned_from,
                to_value=team,
                created_at=created + timedelta(hours=1),
            )
        )
    if rating is not None:
        session.add(Feedback(ticket_id=ticket.id, rating=rating, channel=channel))
    session.flush()
    return ticket


def seed_slices(session: Session) -> None:
    """Week 1: five HR certificates for accounting (Moscow); week 2: four badges for the
    warehouse (Kazan), one misrouted and one never answered, and one triage ticket."""
    vera = employee(session, "vera", "accounting", "Moscow")
    anna = employee(session, "anna", "warehouse", "Kazan")
    boris = employee(session, "boris", "warehouse", "Kazan")
    for i, (hours, rating) in enumerate([(1, 5), (2, 4), (3, None), (4, None), (10, None)]):
        add(
            session, service="hr_certificate", team="hr", requester=vera, day=i,
            response_h=0.5, resolve_h=hours, response_due_h=1, resolution_due_h=8,
            predicted="hr_certificate", rating=rating,
        )  # fmt: skip
    for i, hours in enumerate([2, 2, 6, 6]):
        add(
            session, service="sec_badge", team="security", requester=(anna, boris)[i % 2],
            day=7 + i, channel="email", text="Пропуск для посетителя на склад",
            response_h=None if i == 3 else 0.5, resolve_h=hours, response_due_h=1,
            resolution_due_h=4, predicted="fac_parking" if i == 0 else "sec_badge",
            reassigned_from="facilities" if i == 0 else None,
        )  # fmt: skip
    add(session, service=None, team="triage", day=8, text="Непонятный вопрос")
