"""Proactive suggestions from the request history: baseline, recurring and new catalogue services.

- baseline: a department asks for one service again and again (a standing arrangement would do);
- recurring: one person asks for one service at a steady period (schedule it instead);
- new_service: similar requests that went to triage or were reassigned (the catalogue lacks a
  service for them), clustered on the classifier's own n-gram features.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics.pairwise import cosine_distances
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from classifier.features import Features, FeatureSpec
from classifier.text import mask_pii, normalise
from models.db import Employee, SuggestionState, Ticket, TicketMessage
from models.types import utcnow
from router.analytics import hours_between, reassigned_tickets

KINDS = ("baseline", "recurring", "new_service")
STATES = ("dismissed", "done")


@dataclass(frozen=True)
class Thresholds:
    baseline_requests: int = 10  # a (department, service) pair asked at least this often…
    baseline_share: float = 0.2  # …and this share of the department's requests
    recurring_requests: int = 3  # one person, one service, at least this many times…
    recurring_spread: float = 0.35  # …at intervals whose deviation / median is at most this
    recurring_min_days: float = 1.0
    cluster_size: int = 3  # similar triaged or reassigned requests that make a candidate
    # Average cosine distance within a cluster (average linkage: no chaining of near pairs
    # into one blob); n-gram TF-IDF (with Russian stems) puts paraphrases at 0.3–0.85, others ~1.
    cluster_distance: float = 0.85
    cluster_input: int = 2000  # the latest such requests only: an n×n matrix stays ~30 MB
    examples: int = 3
    names: int = 10


def suggestion_id(kind: str, key: str) -> str:
    return hashlib.sha256(f"{kind}|{key}".encode()).hexdigest()[:16]


def suggest(
    *,
    session: Session,
    where: list[ColumnElement[bool]],
    limits: Thresholds | None = None,
    include_closed: bool = False,
) -> list[dict[str, Any]]:
    """Every suggestion over the tickets matching `where`, open ones only unless asked."""
    limits = limits or Thresholds()
    found = [
        *_baseline(session, where, limits),
        *_recurring(session, where, limits),
        *_new_services(session, where, limits),
    ]
    states = {s.id: s.state for s in session.scalars(select(SuggestionState))}
    for item in found:
        item["state"] = states.get(item["id"], "open")
    return [s for s in found if include_closed or s["state"] == "open"]


def _entry(kind: str, key: str, **fields: Any) -> dict[str, Any]:
    return {"id": suggestion_id(kind, key), "kind": kind, "key": key, **fields}


def _baseline(
    session: Session, where: list[ColumnElement[bool]], limits: Thresholds
) -> list[dict[str, Any]]:
    dialect = session.get_bind().dialect.name
    hours = hours_between(dialect, Ticket.created_at, Ticket.resolved_at)
    joined = select().select_from(Ticket).join(Employee, Employee.id == Ticket.requester_id)
    per_department: dict[str, int] = dict(
        session.execute(
            joined.add_columns(Employee.department, func.count(Ticket.id))
            .where(*where, Employee.department.is_not(None))
            .group_by(Employee.department)
        ).all()
    )
    pairs = session.execute(
        joined.add_columns(
            Employee.department,
            Ticket.service_code,
            func.count(Ticket.id),
            func.count(func.distinct(Ticket.requester_id)),
            func.sum(hours),
        )
        .where(*where, Employee.department.is_not(None), Ticket.service_code.is_not(None))
        .group_by(Employee.department, Ticket.service_code)
        .having(func.count(Ticket.id) >= limits.baseline_requests)
    ).all()
    out = []
    for department, service, n, people, spent in pairs:
        share = n / per_department[department]
        if share < limits.baseline_share:
            continue
        names = session.scalars(
            joined.add_columns(Employee.name)
            .where(*where, Employee.department == department, Ticket.service_code == service)
            .group_by(Employee.name)
            .order_by(func.count(Ticket.id).desc(), Employee.name)
            .limit(limits.names)
        ).all()
        out.append(
            _entry(
                "baseline",
                f"{department}|{service}",
                service=service,
                department=department,
                requests=n,
                share=round(share, 4),
                requester_count=people,
                requesters=list(names),
                specialist_hours=round(float(spent or 0), 1),
            )  # fmt: skip
        )
    return sorted(out, key=lambda s: (-s["requests"], s["key"]))


def _recurring(
    session: Session, where: list[ColumnElement[bool]], limits: Thresholds
) -> list[dict[str, Any]]:
    often = (
        select(Ticket.requester_id, Ticket.service_code)
        .where(*where, Ticket.requester_id.is_not(None), Ticket.service_code.is_not(None))
        .group_by(Ticket.requester_id, Ticket.service_code)
        .having(func.count(Ticket.id) >= limits.recurring_requests)
        .subquery("often")
    )
    rows = session.execute(
        select(Ticket.requester_id, Ticket.service_code, Ticket.created_at, Employee)
        .join(
            often,
            and_(
                often.c.requester_id == Ticket.requester_id,
                often.c.service_code == Ticket.service_code,
            ),
        )
        .join(Employee, Employee.id == Ticket.requester_id)
        .where(*where)
        .order_by(Ticket.requester_id, Ticket.service_code, Ticket.created_at)
    ).all()
    series: dict[tuple[Any, Any], list[datetime]] = defaultdict(list)
    people: dict[Any, Employee] = {}
    for requester_id, service, created, person in rows:
        series[(requester_id, service)].append(created)
        people[requester_id] = person
    out = []
    for (requester_id, service), times in series.items():
        period = _steady_period(times, limits)
        if period is None:
            continue
        person = people[requester_id]
        out.append(
            _entry(
                "recurring",
                f"{requester_id}|{service}",
                service=service,
                department=person.department,
                requests=len(times),
                requester=person.name,
                requester_email=person.email,
                period_days=round(period, 1),
                last_at=times[-1].isoformat(),
                next_expected_at=(times[-1] + timedelta(days=period)).isoformat(),
            )  # fmt: skip
        )
    return sorted(out, key=lambda s: (-s["requests"], s["key"]))


def _steady_period(times: Sequence[datetime], limits: Thresholds) -> float | None:
    """The median interval in days when the intervals are steady enough to schedule."""
    gaps = [(b - a).total_seconds() / 86400 for a, b in zip(times, times[1:], strict=False)]
    period = statistics.median(gaps)
    if period < limits.recurring_min_days:
        return None
    spread = statistics.pstdev(gaps) / period
    return period if spread <= limits.recurring_spread else None


def _new_services(
    session: Session, where: list[ColumnElement[bool]], limits: Thresholds
) -> list[dict[str, Any]]:
    rows = _unplaced(session, where, limits.cluster_input)
    if len(rows) < limits.cluster_size:
        return []
    texts = [normalise(r["text"]) for r in rows]
    features = Features(FeatureSpec(encoder="off"))
    matrix = features.fit_transform(texts, [{} for _ in texts])
    labels = AgglomerativeClustering(
        n_clusters=None,
        metric="precomputed",
        linkage="average",
        distance_threshold=limits.cluster_distance,
    ).fit_predict(cosine_distances(matrix).astype(np.float32))
    sizes = Counter(labels)
    vocabulary = np.array(features.word.get_feature_names_out()) if features.word else None
    words = features.word.transform(texts) if features.word else None
    out = []
    for label in sorted(k for k, n in sizes.items() if n >= limits.cluster_size):
        members = [r for r, lab in zip(rows, labels, strict=True) if lab == label]
        top = _top_words(words, labels == label, vocabulary)
        out.append(_cluster_entry(members, top, limits))
    return sorted(out, key=lambda s: (-s["requests"], s["key"]))


def _top_words(words: Any, mask: np.ndarray, vocabulary: Any) -> list[str]:
    if words is None or vocabulary is None:
        return []
    weights = np.asarray(words[np.flatnonzero(mask)].mean(axis=0)).ravel()
    return [str(vocabulary[i]) for i in np.argsort(-weights)[:5] if weights[i] > 0]


def _cluster_entry(
    members: list[dict[str, Any]], top: list[str], limits: Thresholds
) -> dict[str, Any]:
    teams = Counter(m["team"] for m in members)
    placed = Counter(m["team"] for m in members if m["team"] != "triage") or teams
    team = placed.most_common(1)[0][0]
    services = Counter(m["service"] for m in members if m["service"])
    departments = Counter(m["department"] for m in members if m["department"])
    return _entry(
        "new_service", f"{team}|{' '.join(sorted(top))}",
        service=services.most_common(1)[0][0] if services else None,
        department=departments.most_common(1)[0][0] if departments else None,
        requests=len(members), team=team, teams=dict(teams), keywords=top,
        examples=[mask_pii(m["text"])[:300] for m in members[: limits.examples]],
        tickets=[m["number"] for m in members[: limits.names]],
    )  # fmt: skip


def _unplaced(session: Session, where: list[ColumnElement[bool]], cap: int) -> list[dict[str, Any]]:
    """The latest tickets that went to triage or were reassigned, with their first message."""
    fixed = reassigned_tickets()
    first = (
        select(TicketMessage.ticket_id, func.min(TicketMessage.id).label("message_id"))
        .where(TicketMessage.direction == "inbound")
        .group_by(TicketMessage.ticket_id)
        .subquery("first")
    )
    rows = session.execute(
        select(
            Ticket.number,
            Ticket.subject,
            Ticket.team_code,
            Ticket.service_code,
            Employee.department,
            TicketMessage.body,
        )  # fmt: skip
        .outerjoin(fixed, fixed.c.ticket_id == Ticket.id)
        .outerjoin(first, first.c.ticket_id == Ticket.id)
        .outerjoin(TicketMessage, TicketMessage.id == first.c.message_id)
        .outerjoin(Employee, Employee.id == Ticket.requester_id)
        .where(*where, or_(Ticket.routing == "triage", fixed.c.ticket_id.is_not(None)))
        .order_by(Ticket.id.desc())
        .limit(cap)
    ).all()
    return [
        {
            "number": number,
            "team": team,
            "service": service,
            "department": department,
            "text": body or subject or "",
        }  # fmt: skip
        for number, subject, team, service, department, body in rows
    ]


def set_state(
    *, session: Session, suggestion: dict[str, Any], state: str, actor: str
) -> SuggestionState | None:
    """Dismiss a suggestion or mark it done; `open` takes the verdict back."""
    row = session.get(SuggestionState, suggestion["id"])
    if state == "open":
        if row is not None:
            session.delete(row)
        return None
    if state not in STATES:
        raise ValueError(f"state must be open, {' or '.join(STATES)}, not {state!r}")
    if row is None:
        row = SuggestionState(id=suggestion["id"], kind=suggestion["kind"], key=suggestion["key"])
        session.add(row)
    summary = {k: v for k, v in suggestion.items() if k != "state"}
    row.state, row.actor, row.summary, row.updated_at = state, actor, summary, utcnow()
    return row


def default_since(now: datetime | None = None) -> datetime:
    """Without --since: the last 90 days, long enough for monthly patterns to show."""
    return (now or utcnow()) - timedelta(days=90)
