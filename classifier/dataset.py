"""Labelled examples: read from CSV files or directories, checked against the catalogue."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from classifier.catalog import CatalogInfo
from classifier.errors import DataError
from classifier.text import normalise
from models.db import Service, Ticket
from models.types import TicketStatus

MIN_EXAMPLES_PER_LABEL = 2
Extras = dict[str, str | None]


@dataclass
class Dataset:
    """Parallel lists of texts, labels and extra categorical values, plus where they came from."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    extras: list[Extras] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    sha256: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Iterable[int]) -> Dataset:
        idx = list(indices)
        return Dataset(
            texts=[self.texts[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            extras=[self.extras[i] for i in idx],
            sources=list(self.sources),
            sha256=self.sha256,
        )

    @property
    def description(self) -> str:
        return ", ".join(self.sources)


def csv_files(paths: Sequence[Path]) -> list[Path]:
    """Expand each path: a file stays, a directory gives its *.csv files in name order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.csv"))
            if not found:
                raise DataError(f"directory {path} has no *.csv files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"data file {path} does not exist")
    if not files:
        raise DataError("no data given")
    return files


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows = list(reader)
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text") from None
    except csv.Error as exc:
        raise DataError(f"{path} is not a readable CSV: {exc}") from None
    if not header:
        raise DataError(f"{path} is empty")
    return header, rows


def read_csv_data(
    paths: Sequence[Path],
    *,
    text_col: str = "text",
    label_col: str = "service",
    extra_cols: Sequence[str] = (),
    require_extras: bool = True,
) -> Dataset:
    """Concatenate the CSV files; every file needs the text and label columns."""
    data = Dataset()
    digest = hashlib.sha256()
    seen_extra: set[str] = set()
    for path in csv_files(paths):
        header, rows = _read_rows(path)
        missing = [c for c in (text_col, label_col) if c not in header]
        if missing:
            raise DataError(f"{path} has no column {missing[0]!r} (columns: {', '.join(header)})")
        seen_extra.update(c for c in extra_cols if c in header)
        digest.update(path.read_bytes())
        data.sources.append(f"{path} ({len(rows)} rows)")
        for row in rows:
            text, label = (row.get(text_col) or "").strip(), (row.get(label_col) or "").strip()
            if text and label:
                data.texts.append(text)
                data.labels.append(label)
                data.extras.append({c: (row.get(c) or None) for c in extra_cols})
    absent = [c for c in extra_cols if c not in seen_extra]
    if absent and require_extras:
        raise DataError(f"no data file has the extra column {absent[0]!r}")
    if not data.texts:
        raise DataError(f"no labelled rows in {', '.join(str(p) for p in paths)}")
    data.sha256 = digest.hexdigest()
    return data


def read_label_teams(paths: Sequence[Path], *, label_col: str, team_col: str) -> dict[str, str]:
    """Each label's team from a column of the CSV files (labels that are not catalogue services:
    `okno model train --catalog none --team-col`). A label given two teams is an error."""
    teams: dict[str, str] = {}
    for path in csv_files(paths):
        header, rows = _read_rows(path)
        if team_col not in header:
            raise DataError(f"{path} has no column {team_col!r} (columns: {', '.join(header)})")
        for row in rows:
            label, team = (row.get(label_col) or "").strip(), (row.get(team_col) or "").strip()
            if not label or not team:
                continue
            if teams.setdefault(label, team) != team:
                raise DataError(
                    f"label {label!r} has two teams in column {team_col!r}: "
                    f"{teams[label]!r} and {team!r} ({path})"
                )
    return teams


def add_examples(
    data: Dataset,
    rows: Sequence[dict[str, str | None]],
    *,
    source: str,
    extra_cols: Sequence[str] = (),
) -> Dataset:
    """Append examples (e.g. from resolved tickets); their label wins over an identical text's."""
    position = {normalise(t): i for i, t in enumerate(data.texts)}
    digest = hashlib.sha256(data.sha256.encode())
    for row in rows:
        text, label = row.get("text") or "", row.get("service") or ""
        if not text or not label:
            continue
        digest.update(f"{label}\t{text}\n".encode())
        key = normalise(text)
        extras = {c: row.get(c) for c in extra_cols}
        if key in position:
            data.labels[position[key]] = label
            continue
        position[key] = len(data.texts)
        data.texts.append(text)
        data.labels.append(label)
        data.extras.append(extras)
    data.sources.append(f"{source} ({len(rows)} rows)")
    data.sha256 = digest.hexdigest()
    return data


def check_labels(data: Dataset, catalog: CatalogInfo) -> tuple[Dataset, int]:
    """Refuse labels outside the catalogue or with too few examples.

    `exclude_from_training` keeps real tickets of sensitive services out of training (the
    database query leaves them out); the curated CSV examples of those services stay, so a
    confidential request is still recognised and routed to its team instead of triage.
    """
    unknown = sorted({lb for lb in data.labels if lb not in catalog.service_team})
    if unknown:
        raise DataError(f"label {unknown[0]!r} is not a service in the catalogue {catalog.source}")
    check_counts(data.labels)
    return data, 0


def check_counts(labels: Sequence[str]) -> None:
    """At least two labels, each with enough examples to be split into train and test."""
    counts = Counter(labels)
    if len(counts) < 2:
        raise DataError(f"need at least 2 different labels, got {len(counts)}")
    rare = sorted((n, lb) for lb, n in counts.items() if n < MIN_EXAMPLES_PER_LABEL)
    if rare:
        n, label = rare[0]
        raise DataError(
            f"label {label!r} has only {n} example(s); need at least {MIN_EXAMPLES_PER_LABEL}"
        )


def _ticket_text(ticket: Ticket) -> str:
    """Subject plus the first inbound message, without repeating a subject the body starts with."""
    subject = (ticket.subject or "").strip()
    first = next((m for m in ticket.messages if m.direction == "inbound"), None)
    body = (first.body if first else "").strip()
    if subject and body.startswith(subject):
        return body
    return "\n".join(part for part in (subject, body) if part)


def examples_from_db(
    *, session: Session, since: datetime | None = None, exclude: Iterable[str] = ()
) -> list[dict[str, str | None]]:
    """Labelled examples from tickets: resolved or closed ones, and any a specialist reassigned.

    The label is the ticket's current service, so a specialist's correction wins over what the
    classifier predicted. Sub-tickets of process templates and excluded services are left out.
    """
    finished = Ticket.status.in_([TicketStatus.resolved.value, TicketStatus.closed.value])
    reassigned = and_(
        Ticket.predicted_service_code.is_not(None),
        Ticket.predicted_service_code != Ticket.service_code,
    )
    stmt = (
        select(Ticket)
        .join(Service, Service.code == Ticket.service_code)
        .where(Service.exclude_from_training.is_(False), Ticket.parent_id.is_(None))
        .where(or_(finished, reassigned))
        .options(selectinload(Ticket.messages), selectinload(Ticket.requester))
        .order_by(Ticket.id)
    )
    if since is not None:
        stmt = stmt.where(Ticket.created_at >= since)
    skip = set(exclude)
    rows = []
    for ticket in session.scalars(stmt):
        text = _ticket_text(ticket)
        if not text or ticket.service_code in skip:
            continue
        rows.append(
            {
                "text": text,
                "service": ticket.service_code,
                "language": ticket.language,
                "channel": ticket.origin_channel,
                "department": ticket.requester.department if ticket.requester else None,
                "branch": ticket.requester.branch if ticket.requester else None,
                "number": ticket.number,
            }
        )
    return rows
