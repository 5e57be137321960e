"""Test data for the workflow tests: tickets and users made by our own code, real tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Service, Ticket, User
from models.types import utcnow
from router import sla
from router.lifecycle.records import add_message, add_ticket
from router.runtime import Runtime
from router.users import create_user

REQUESTER = "a.petrova@corp.example.com"


def make_ticket(
    session: Session,
    *,
    service: str | None = "hr_certificate",
    team: str | None = None,
    channel: str = "webform",
    requester: str | None = REQUESTER,
    subject: str = "Справка с места работы",
    text: str = "Нужна справка с места работы для визы.",
    predicted: str | None = None,
    due_in: timedelta | None = None,
    language: str = "ru",
) -> Ticket:
    """A routed ticket with its first message, as the pipeline would leave it."""
    svc = session.scalar(select(Service).where(Service.code == service)) if service else None
    ticket = Ticket(
        subject=subject,
        service_code=service,
        predicted_service_code=predicted,
        team_code=team or (svc.team_code if svc else "triage"),
        status="new",
        priority=svc.priority if svc else "normal",
        origin_channel=channel,
        requester_address=requester,
        requester_name="Анна Петрова",
        language=language,
        routing="service" if predicted else ("requester" if service else "triage"),
    )
    now = utcnow()
    sla.set_due_dates(ticket, svc, now, session=session)
    if due_in is not None:
        ticket.resolution_due_at = now + due_in
    add_ticket(ticket, session=session)
    add_message(
        ticket, session=session, direction="inbound", body=text, channel=channel, author=requester
    )
    session.flush()
    return ticket


@dataclass
class Person:
    id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Staff:
    """One user per role: specialists of hr and payroll, a lead of hr, an analyst, an admin."""

    people: dict[str, Person] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Person:
        try:
            return self.people[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


ROSTER = {
    "hr": ("specialist", ["hr"]),
    "hr2": ("specialist", ["hr"]),
    "payroll": ("specialist", ["payroll"]),
    "lead": ("lead", ["hr"]),
    "analyst": ("analyst", []),
    "admin": ("admin", []),
}


def make_staff(runtime: Runtime) -> Staff:
    staff = Staff()
    with runtime.sessions() as session:
        for key, (role, teams) in ROSTER.items():
            user, token = create_user(
                session=session,
                name=key.title(),
                email=f"{key}@ssc.example.com",
                role=role,
                teams=teams,
            )
            staff.people[key] = Person(user.id, user.email, token)
        session.commit()
    return staff


def user_named(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email))
    assert user is not None
    return user


def later(hours: float) -> timedelta:
    return timedelta(hours=hours)
