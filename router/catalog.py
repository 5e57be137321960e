"""Catalogue: load the YAML file (teams, services, SLA policies, processes) and upsert it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import PriorityPolicy, ProcessTemplate, Service, Team
from models.types import Priority

TRIAGE_TEAM = "triage"


class CatalogError(ValueError):
    """The catalogue file is unreadable or inconsistent; the message names the entry."""


@dataclass
class LoadReport:
    teams: int = 0
    services: int = 0
    processes: int = 0

    def __str__(self) -> str:
        return f"{self.teams} teams, {self.services} services, {self.processes} processes"


def read_catalog(path: Path) -> dict[str, Any]:
    """Parse and validate a catalogue file without touching the database."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CatalogError(f"catalogue file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"catalogue {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not data.get("services") or not data.get("teams"):
        raise CatalogError(f"catalogue {path} needs 'teams' and 'services' lists")
    _validate(data)
    return data


def _validate(data: dict[str, Any]) -> None:
    teams = {t["code"] for t in data["teams"]}
    if TRIAGE_TEAM not in teams:
        raise CatalogError(f"catalogue needs a '{TRIAGE_TEAM}' team for unsure requests")
    processes = data.get("processes") or {}
    codes = {s["code"] for s in data["services"]}
    for svc in data["services"]:
        for key in ("code", "team", "name_ru", "name_en", "response_hours", "resolution_hours"):
            if key not in svc:
                raise CatalogError(f"service {svc.get('code', '?')}: missing '{key}'")
        if svc["team"] not in teams:
            raise CatalogError(f"service {svc['code']}: unknown team '{svc['team']}'")
        if svc.get("priority", "normal") not in Priority.__members__:
            raise CatalogError(f"service {svc['code']}: unknown priority '{svc['priority']}'")
        if svc.get("process") and svc["process"] not in processes:
            raise CatalogError(f"service {svc['code']}: unknown process '{svc['process']}'")
    for name, proc in processes.items():
        for step in proc.get("steps", []):
            if step["service"] not in codes:
                raise CatalogError(f"process {name}: unknown service '{step['service']}'")


def load_catalog(path: Path, *, session: Session) -> LoadReport:
    """Upsert the catalogue by code; entries missing from the file are kept (tickets use them)."""
    data = read_catalog(path)
    report = LoadReport()
    for team in data["teams"]:
        _upsert(session, Team, "code", team["code"], _fields(team, Team))
        report.teams += 1
    session.flush()
    for name, proc in (data.get("processes") or {}).items():
        fields = {
            "name_ru": proc.get("name_ru", name),
            "name_en": proc.get("name_en", name),
            "steps": proc.get("steps", []),
        }
        _upsert(session, ProcessTemplate, "code", name, fields)
        report.processes += 1
    for svc in data["services"]:
        fields = _fields(svc, Service)
        fields["team_code"] = svc["team"]
        _upsert(session, Service, "code", svc["code"], fields)
        report.services += 1
    for prio, policy in (data.get("priorities") or {}).items():
        _upsert(session, PriorityPolicy, "priority", prio, dict(policy))
    return report


def _fields(entry: dict[str, Any], model: type) -> dict[str, Any]:
    columns = set(model.__table__.columns.keys())  # type: ignore[attr-defined]
    return {k: v for k, v in entry.items() if k in columns and k not in ("id", "code")}


def _upsert(session: Session, model: type, key: str, value: str, fields: dict[str, Any]) -> None:
    row = session.scalar(select(model).where(getattr(model, key) == value))
    if row is None:
        row = model(**{key: value})
        session.add(row)
    for name, val in fields.items():
        setattr(row, name, val)


def catalog_is_empty(*, session: Session) -> bool:
    return session.scalar(select(Service.id).limit(1)) is None
