"""Catalogue: load the YAML file (teams, services, SLA policies, processes), change one service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import PriorityPolicy, ProcessTemplate, Service, Team
from models.types import TRIAGE_TEAM, Priority
from router.catalog_lines import CatalogError, LineLoader
from router.catalog_sla import check_sla, load_sla, service_targets, upsert

__all__ = ["CatalogError", "load_catalog", "read_catalog"]


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
        data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=LineLoader)  # noqa: S506
    except FileNotFoundError as exc:
        raise CatalogError(f"catalogue file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise CatalogError(f"catalogue {path} is not valid YAML: {_yaml_problem(exc)}") from exc
    if not isinstance(data, dict) or not data.get("services") or not data.get("teams"):
        raise CatalogError(f"catalogue {path} needs 'teams' and 'services' lists")
    _validate(data)
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's message spans several lines (with a source excerpt): one line of it."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(exc).split())


def _validate(data: dict[str, Any]) -> None:
    teams = {t["code"] for t in _entries(data, "teams", "team")}
    if TRIAGE_TEAM not in teams:
        raise CatalogError(f"catalogue needs a '{TRIAGE_TEAM}' team for unsure requests")
    for team in data["teams"]:
        _require_text(team, "team", ("name_ru", "name_en"))
    processes = _mapping(data.get("processes") or {}, "'processes'")
    codes = {s["code"] for s in _entries(data, "services", "service")}
    for svc in data["services"]:
        _check_service(svc, teams, processes)
    check_sla(data)
    for name, proc in processes.items():
        _check_process(name, proc, codes)
    for prio, policy in _mapping(data.get("priorities") or {}, "'priorities'").items():
        if prio not in Priority.__members__:
            raise CatalogError(f"priorities: unknown priority '{prio}'")
        for key, value in _mapping(policy, f"priority {prio}").items():
            _positive(value, f"priority {prio}: '{key}'")


def _entries(data: dict[str, Any], key: str, kind: str) -> list[dict[str, Any]]:
    """A list of mappings, each with a text `code`."""
    entries = data[key]
    if not isinstance(entries, list):
        kind_of = "dict" if isinstance(entries, dict) else type(entries).__name__
        raise CatalogError(f"'{key}' must be a list of entries, not {kind_of}")
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise CatalogError(f"{kind} #{number} must be a mapping, not {entry!r}")
        if not isinstance(entry.get("code"), str) or not entry["code"]:
            raise CatalogError(f"{kind} #{number}: 'code' must be non-empty text")
    return entries


def _check_service(svc: dict[str, Any], teams: set[str], processes: dict[str, Any]) -> None:
    code = svc["code"]
    for key in ("team", "name_ru", "name_en"):
        if key not in svc:
            raise CatalogError(f"service {code}: missing '{key}'")
    _require_text(svc, "service", ("name_ru", "name_en"))
    if svc["team"] not in teams:
        raise CatalogError(f"service {code}: unknown team '{svc['team']}'")
    if svc.get("priority", "normal") not in Priority.__members__:
        raise CatalogError(f"service {code}: unknown priority '{svc['priority']}'")
    if svc.get("process") and svc["process"] not in processes:
        raise CatalogError(f"service {code}: unknown process '{svc['process']}'")


def _check_process(name: str, proc: Any, codes: set[str]) -> None:
    proc = _mapping(proc, f"process {name}")
    if "stages" in proc and "steps" in proc:
        raise CatalogError(f"process {name}: give 'stages' or a flat 'steps' list, not both")
    if not isinstance(proc.get("stages", []), list):
        raise CatalogError(f"process {name}: 'stages' must be a list")
    fields = proc.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields):
        raise CatalogError(f"process {name}: 'fields' must be a list of names")
    for number, stage in enumerate(proc.get("stages", []), 1):
        if not isinstance(stage, dict) or not isinstance(stage.get("steps"), list):
            raise CatalogError(f"process {name}: stage #{number} needs a 'steps' list")
    stages = process_stages(proc)
    if not any(stages):
        raise CatalogError(f"process {name}: no steps")
    for step in (step for stage in stages for step in stage):
        if not isinstance(step, dict) or step.get("service") not in codes:
            service = step.get("service") if isinstance(step, dict) else step
            raise CatalogError(f"process {name}: unknown service '{service}'")


def process_stages(proc: dict[str, Any]) -> list[list[Any]]:
    """The steps in order, a list of parallel steps per stage; a flat `steps:` is one stage."""
    if "stages" in proc:
        return [list(stage["steps"]) for stage in proc["stages"]]
    steps = proc.get("steps", [])
    if not isinstance(steps, list):
        raise CatalogError("'steps' must be a list")
    return [list(steps)] if steps else []


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CatalogError(f"{what} must be a mapping, not {value!r}")
    return value


def _require_text(entry: dict[str, Any], kind: str, keys: tuple[str, ...]) -> None:
    for key in keys:
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise CatalogError(f"{kind} {entry['code']}: '{key}' must be non-empty text")


def _positive(value: Any, what: str) -> None:
    """A positive number of hours (or a factor); YAML gives int or float, bool is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise CatalogError(f"{what} must be a positive number, not {value!r}")


def load_catalog(path: Path, *, session: Session) -> LoadReport:
    """Upsert the catalogue by code; entries missing from the file are kept (tickets use them)."""
    data = read_catalog(path)
    report = LoadReport()
    load_sla(data, session=session)
    for team in data["teams"]:
        upsert(session, Team, "code", team["code"], _fields(team, Team))
        report.teams += 1
    session.flush()
    for name, proc in (data.get("processes") or {}).items():
        stages = process_stages(proc)
        fields = {
            "name_ru": proc.get("name_ru", name),
            "name_en": proc.get("name_en", name),
            "steps": [step for stage in stages for step in stage],
            "stages": stages,
            "fields": list(proc.get("fields", [])),
        }
        upsert(session, ProcessTemplate, "code", name, fields)
        report.processes += 1
    for svc in data["services"]:
        fields = _fields(svc, Service)
        fields["team_code"] = svc["team"]
        fields.update(service_targets(svc))
        upsert(session, Service, "code", svc["code"], fields)
        report.services += 1
    for prio, policy in (data.get("priorities") or {}).items():
        upsert(session, PriorityPolicy, "priority", prio, dict(policy))
    session.info.pop("okno_priority_factors", None)  # router/lifecycle/sla_plan's memo
    return report


def _fields(entry: dict[str, Any], model: type) -> dict[str, Any]:
    columns = set(model.__table__.columns.keys())  # type: ignore[attr-defined]
    return {k: v for k, v in entry.items() if k in columns and k not in ("id", "code")}


def catalog_is_empty(*, session: Session) -> bool:
    return session.scalar(select(Service.id).limit(1)) is None


# --- changes through the API: add or change one service -----------------------------------
# `okno catalog load` upserts the YAML file by code, so a service changed here keeps the change
# until the file says otherwise; services are never deleted (tickets refer to them), only
# deactivated.

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
