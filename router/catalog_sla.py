"""The catalogue's SLA part: calendars, branches, default calendar, per-service SLA targets."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.db import Branch, SlaCalendar
from router.catalog_lines import CatalogError, LineList, at_line, line_of
from router.lifecycle.calendar import ALWAYS, CalendarError, parse_calendar

TARGETS = (("response_hours", "response_minutes"), ("resolution_hours", "resolution_minutes"))


def check_sla(data: dict[str, Any]) -> None:
    """Refuse bad calendars and SLA settings with the line and the reason, before any write."""
    known = _check_calendars(data.get("calendars") or [])
    default = data.get("default_calendar")
    if default is not None and default not in known:
        raise _error(data, "default_calendar", f"default_calendar: unknown calendar '{default}'")
    for team in data["teams"]:
        _check_reference(team, f"team {team['code']}", known)
    for branch in _branches(data):
        _check_reference(branch, f"branch {branch['code']}", known)
        if branch.get("timezone") is not None:
            _zone(branch, f"branch {branch['code']}")
    for svc in data["services"]:
        _check_reference(svc, f"service {svc['code']}", known)
        _check_targets(svc)


def _check_calendars(entries: Any) -> set[str]:
    if not isinstance(entries, list):
        raise CatalogError("'calendars' must be a list of entries")
    known = {ALWAYS}
    for number, entry in enumerate(entries):
        where = line_of(entries, number)
        if not isinstance(entry, dict) or not isinstance(entry.get("code"), str):
            raise CatalogError(at_line(where, f"calendar #{number + 1}: needs a text 'code'"))
        if entry["code"] in known:
            raise CatalogError(at_line(where, f"calendar {entry['code']}: defined twice"))
        try:
            parse_calendar(entry["code"], entry)
        except CalendarError as exc:
            raise CatalogError(
                at_line(_calendar_line(entry, exc), f"calendar {entry['code']}: {exc}")
            ) from exc
        known.add(entry["code"])
    return known


def _calendar_line(entry: dict[str, Any], exc: CalendarError) -> int | None:
    """The line of the bad value: a weekday's hours, a list item, or the key."""
    top, _, sub = exc.key.partition(".")
    value = entry.get(top)
    if sub and isinstance(value, dict):
        return line_of(value, sub)
    if isinstance(value, LineList):
        for index, item in enumerate(value):
            if f"'{item}'" in exc.reason:
                return line_of(value, index)
    return line_of(entry, top) if top in entry else line_of(entry)


def _branches(data: dict[str, Any]) -> list[dict[str, Any]]:
    branches = data.get("branches") or []
    if not isinstance(branches, list):
        raise CatalogError("'branches' must be a list of entries")
    for number, branch in enumerate(branches):
        if not isinstance(branch, dict) or not isinstance(branch.get("code"), str):
            raise CatalogError(
                at_line(line_of(branches, number), f"branch #{number + 1}: needs a text 'code'")
            )
    return branches


def _check_reference(entry: dict[str, Any], what: str, known: set[str]) -> None:
    name = entry.get("calendar")
    if name is not None and name not in known:
        raise _error(entry, "calendar", f"{what}: unknown calendar '{name}'")


def _zone(entry: dict[str, Any], what: str) -> None:
    try:
        ZoneInfo(str(entry["timezone"]))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        message = f"{what}: unknown time zone '{entry['timezone']}'"
        raise _error(entry, "timezone", message) from exc


def _check_targets(svc: dict[str, Any]) -> None:
    what = f"service {svc['code']}"
    for hours, minutes in TARGETS:
        given = [key for key in (hours, minutes) if key in svc]
        if len(given) != 1:
            message = f"{what}: give exactly one of '{hours}' or '{minutes}'"
            raise _error(svc, given[-1] if given else "code", message)
        value = svc[given[0]]
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            message = f"{what}: '{given[0]}' must be a positive number, not {value!r}"
            raise _error(svc, given[0], message)
    flag = svc.get("raise_priority_on_breach", False)
    if not isinstance(flag, bool):
        message = f"{what}: 'raise_priority_on_breach' must be true or false, not {flag!r}"
        raise _error(svc, "raise_priority_on_breach", message)


def _error(entry: Any, key: str, message: str) -> CatalogError:
    return CatalogError(at_line(line_of(entry, key), message))


def service_targets(svc: dict[str, Any]) -> dict[str, float]:
    """The service's targets in hours (the columns), whichever unit the catalogue used."""
    out: dict[str, float] = {}
    for hours, minutes in TARGETS:
        out[hours] = float(svc[hours]) if hours in svc else float(svc[minutes]) / 60
    return out


def load_sla(data: dict[str, Any], *, session: Session) -> None:
    """Upsert calendars and branches; the named default calendar is the only default."""
    default = data.get("default_calendar")
    session.execute(update(SlaCalendar).values(is_default=False))
    for entry in data.get("calendars") or []:
        spec = json.loads(json.dumps(dict(entry), default=str))  # dates → ISO text
        fields = {
            "timezone": entry["timezone"],
            "spec": spec,
            "is_default": entry["code"] == default,
        }
        upsert(session, SlaCalendar, "code", entry["code"], fields)
    for branch in data.get("branches") or []:
        fields = {
            k: branch[k] for k in ("name_ru", "name_en", "calendar", "timezone") if k in branch
        }
        upsert(session, Branch, "code", branch["code"], fields)
    session.flush()


def upsert(session: Session, model: type, key: str, value: str, fields: dict[str, Any]) -> None:
    row = session.scalar(select(model).where(getattr(model, key) == value))
    if row is None:
        row = model(**{key: value})
        session.add(row)
    for name, val in fields.items():
        setattr(row, name, val)
