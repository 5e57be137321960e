"""A request history with known timings, requesters and outcomes, for analytics and suggestions."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from models.db import Employee, Feedback, Ticket, TicketEvent
from router.lifecycle.records import add_message, add_ticket

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
        routing=routing or ("service" if predicted else ("requester" if service else "triage")),
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


SCOOTER = [
    "Нужен электросамокат для курьера на смену",
    "Прошу выдать электросамокат курьеру на неделю",
    "Электросамокат для курьерской доставки нужен срочно",
    "Где взять электросамокат для курьера на смену?",
]


def seed_suggestions(session: Session) -> None:
    """The warehouse asks for visitor badges over and over; Vera needs a 2-NDFL every month;
    couriers' scooters have no service, so they land in triage or get reassigned."""
    anna = employee(session, "anna", "warehouse", "Kazan")
    boris = employee(session, "boris", "warehouse", "Kazan")
    vera = employee(session, "vera", "accounting", "Moscow")
    gleb = employee(session, "gleb", "accounting", "Moscow")
    badge_days = [0, 1, 3, 4, 9, 15, 16, 22, 30, 37, 38, 50]
    for i, day in enumerate(badge_days):
        add(
            session, service="sec_badge", team="security", requester=(anna, boris)[i % 2],
            day=day, text="Пропуск для посетителя на склад", resolve_h=1.5,
        )  # fmt: skip
    for day in (5, 8, 44):
        add(session, service="it_hardware", team="it_desk", requester=anna, day=day, resolve_h=3)
    for day in (2, 32, 62, 92):
        add(session, service="pay_2ndfl", team="payroll", requester=vera, day=day, resolve_h=5)
    for day in (0, 1, 40, 41):  # four times, but not at a steady period
        add(session, service="hr_certificate", team="hr", requester=gleb, day=day)
    for i, text in enumerate(SCOOTER):
        add(
            session, service=None if i % 2 else "proc_purchase", team="procurement",
            requester=anna, day=10 + i, text=text,
            routing="triage" if i % 2 else "service", predicted=None if i % 2 else "fac_parking",
            reassigned_from=None if i % 2 else "facilities",
        )  # fmt: skip
    add(session, service=None, team="triage", day=12, text="Кто отвечает за кофемашину?")
    add(session, service=None, team="triage", day=13, text="Непонятный вопрос про жизнь")
