"""Catalogue changes through the API: add or change one service.

`okno catalog load` upserts the YAML file by code, so a service changed here keeps the change
until the file says otherwise; services are never deleted (tickets refer to them), only
deactivated.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import ProcessTemplate, Service, Team
from models.types import Priority

FIELDS = (
    "name_ru",
    "name_en",
    "description_ru",
    "description_en",
    "priority",
    "response_hours",
    "resolution_hours",
    "process",
    "exclude_from_training",
    "active",
)


class CatalogChangeError(ValueError):
    """The change would leave the catalogue inconsistent; `code` and `field` say where."""

    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.field = code, field


def create_service(*, session: Session, code: str, team: str, **values: Any) -> Service:
    if session.scalar(select(Service.id).where(Service.code == code)) is not None:
        raise CatalogChangeError(f"service {code} exists", code="service_exists", field="code")
    service = Service(code=code, team_code=_team(team, session=session))
    _apply(service, {**{"active": True}, **values}, session=session)
    session.add(service)
    session.flush()
    return service


def update_service(*, session: Session, code: str, **values: Any) -> Service:
    """Change the given fields; moving a service to another team leaves its tickets where they are."""
    service = session.scalar(select(Service).where(Service.code == code))
    if service is None:
        raise CatalogChangeError(f"no service {code}", code="not_found")
    team = values.pop("team", None)
    if team:
        service.team_code = _team(team, session=session)
    _apply(service, values, session=session)
    return service


def _apply(service: Service, values: dict[str, Any], *, session: Session) -> None:
    """Set the given fields (None clears a nullable one, such as `process`), then check them."""
    for key in FIELDS:
        if key in values:
            setattr(service, key, values[key])
    if service.priority not in Priority.__members__:
        raise CatalogChangeError(f"unknown priority {service.priority!r}", field="priority")
    if service.resolution_hours < service.response_hours:
        raise CatalogChangeError(
            "resolution_hours must not be less than response_hours", field="resolution_hours"
        )
    if (
        service.process
        and session.scalar(
            select(ProcessTemplate.id).where(ProcessTemplate.code == service.process)
        )
        is None
    ):
        raise CatalogChangeError(
            f"no process template {service.process!r}", code="unknown_process", field="process"
        )


def _team(code: str, *, session: Session) -> str:
    if session.scalar(select(Team.code).where(Team.code == code)) is None:
        raise CatalogChangeError(f"no team {code!r}", code="unknown_team", field="team")
    return code
