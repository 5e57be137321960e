"""The employee directory as the API shows it (the employees endpoints and the ticket detail)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from models.db import Employee
from router.directory import by_email


class ManagerOut(BaseModel):
    email: str
    name: str | None = Field(description="Null when the manager is not in the directory.")


class EmployeeOut(BaseModel):
    email: str | None
    name: str
    phone: str | None = Field(description="E.164, e.g. +79123456789.")
    department: str | None
    branch: str | None
    timezone: str | None
    manager: ManagerOut | None
    active: bool = Field(description="False: kept for history; new mail is an unknown sender's.")
    source: str | None = Field(description="csv or ldap: where the record came from.")
    updated_at: datetime | None


def employee_out(person: Employee, *, session: Session) -> EmployeeOut:
    manager = by_email(person.manager_email, session=session) if person.manager_email else None
    return EmployeeOut(
        email=person.email,
        name=person.name,
        phone=person.phone,
        department=person.department,
        branch=person.branch,
        timezone=person.timezone,
        manager=(
            ManagerOut(email=person.manager_email, name=manager.name if manager else None)
            if person.manager_email
            else None
        ),
        active=person.active,
        source=person.source,
        updated_at=person.updated_at,
    )
