"""The employee directory: validate person records (CSV rows, LDAP entries) and upsert them by e-mail."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models.db import Employee

# The project's one phone normaliser; every directory phone goes through `e164` below.
from models.types import InvalidPhoneNumber, normalize_phone, utcnow

COLUMNS = ("email", "name", "phone", "department", "branch", "timezone", "manager_email")
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_LIMITS = {"name": 255, "department": 255, "branch": 255, "email": 320, "manager_email": 320}


class DirectoryError(Exception):
    """The whole input is unusable (not UTF-8, no e-mail column, directory unreachable)."""


class BadRecord(ValueError):
    """One row or entry that cannot be imported; the message is the reason shown to the admin."""


@dataclass
class Record:
    """One person as a source describes them; only the fields in `fields` are written."""

    email: str
    values: dict[str, str | None]
    where: dict[str, Any]  # {"line": n} for a CSV row, {"dn": …} for an LDAP entry


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The machine-readable summary (the CLI's last line); key names are public."""
        return {
            "created": self.created,
            "updated": self.updated,
            "deactivated": self.deactivated,
            "rejected": self.rejected,
        }


def e164(raw: str) -> str:
    """A directory phone in E.164 (extensions dropped: callers present the main number)."""
    try:
        return normalize_phone(raw).e164
    except InvalidPhoneNumber as exc:
        raise BadRecord(str(exc)) from exc


def clean_email(raw: str, what: str = "email") -> str:
    value = raw.strip().lower()
    if not _EMAIL.match(value) or len(value) > 320:
        raise BadRecord(f"{what} is not an e-mail address: {raw.strip()!r}")
    return value


def record(raw: dict[str, str | None], where: dict[str, Any]) -> Record:
    """Validate one person's fields (only the columns present); raises BadRecord."""
    email = clean_email(raw.get("email") or "")
    values: dict[str, str | None] = {}
    for name in COLUMNS[1:]:
        if name not in raw:
            continue
        value = (raw[name] or "").strip() or None
        values[name] = _field(name, value)
    return Record(email=email, values=values, where=where)


def _field(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if name == "phone":
        return e164(value)
    if name == "manager_email":
        return clean_email(value, "manager_email")
    if name == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise BadRecord(f"unknown time zone {value!r}") from exc
    if len(value) > _LIMITS.get(name, 64):
        raise BadRecord(f"{name} is longer than {_LIMITS.get(name, 64)} characters")
    return value


def read_csv(data: bytes) -> tuple[list[Record], list[dict[str, Any]]]:
    """Rows of a UTF-8 CSV (BOM or not, `;` or `,`) as records, and the rows rejected."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DirectoryError(f"the file is not UTF-8 (byte {exc.start})") from exc
    header = text.split("\n", 1)[0]
    delimiter = ";" if header.count(";") > header.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    names = [n.strip().lower() for n in next(reader, [])]
    if "email" not in names:
        raise DirectoryError(f"the header has no email column (header: {header.strip()!r})")
    records: list[Record] = []
    rejected: list[dict[str, Any]] = []
    seen: set[str] = set()
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        try:
            row = _row(names, cells)
            rec = record(row, {"line": line})
            if rec.email in seen:
                raise BadRecord(f"{rec.email} appears twice in the file")
        except BadRecord as exc:
            rejected.append({"line": line, "reason": str(exc)})
            continue
        seen.add(rec.email)
        records.append(rec)
    return records, rejected


def _row(names: list[str], cells: list[str]) -> dict[str, str | None]:
    if len(cells) != len(names):
        raise BadRecord(f"{len(cells)} fields where the header has {len(names)}")
    return {n: c for n, c in zip(names, cells, strict=True) if n in COLUMNS}


def apply(
    records: Iterable[Record],
    *,
    session: Session,
    source: str,
    deactivate_missing: bool = False,
) -> ImportReport:
    """Upsert people by e-mail (case-insensitive); optionally deactivate everyone not listed."""
    report = ImportReport()
    existing = {
        e.email.lower(): e
        for e in session.scalars(select(Employee).where(Employee.email.is_not(None)))
        if e.email
    }
    listed: set[str] = set()
    for rec in records:
        listed.add(rec.email)
        person = existing.get(rec.email)
        if person is None:
            person = Employee(email=rec.email, name="", source=source, active=True)
            session.add(person)
            existing[rec.email] = person
            _write(person, rec, source)
            report.created += 1
        elif _write(person, rec, source):
            report.updated += 1
        else:
            report.unchanged += 1
    if deactivate_missing:
        report.deactivated = _deactivate(existing, listed)
    session.flush()
    return report


def _write(person: Employee, rec: Record, source: str) -> bool:
    """Copy the record's fields onto the person; True when anything changed."""
    changed = not person.active
    person.active = True
    for name, value in rec.values.items():
        value = value if value is not None or name != "name" else ""
        if getattr(person, name) != value:
            setattr(person, name, value)
            changed = True
    if changed:
        person.source = source
        person.updated_at = utcnow()
    return changed


def _deactivate(existing: dict[str, Employee], listed: set[str]) -> int:
    count = 0
    for email, person in existing.items():
        if email not in listed and person.active:
            person.active = False
            person.updated_at = utcnow()
            count += 1
    return count


def by_email(email: str, *, session: Session) -> Employee | None:
    return session.scalar(select(Employee).where(func.lower(Employee.email) == email.lower()))


def search(query: str, *, session: Session, limit: int = 50) -> list[Employee]:
    """People whose name, e-mail, phone, department or branch contains every word of the query."""
    stmt = select(Employee).order_by(Employee.name, Employee.id).limit(limit)
    for word in query.split():
        stmt = stmt.where(or_(*(_contains(column, word) for column in _SEARCHED)))
    return list(session.scalars(stmt))


_SEARCHED = (Employee.name, Employee.email, Employee.phone, Employee.department, Employee.branch)


def _contains(column: Any, word: str) -> Any:
    # SQLite's lower() and LIKE fold ASCII only: the usual spellings of a Cyrillic word are
    # tried as written too ("казань" finds "Казань"); PostgreSQL's lower() folds them all.
    forms = {word, word.capitalize(), word.upper()}
    return or_(
        func.lower(column).like(_pattern(word.lower()), escape="\\"),
        *(column.like(_pattern(f), escape="\\") for f in forms),
    )


def _pattern(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
