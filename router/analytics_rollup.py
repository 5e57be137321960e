"""The analytics summary and slices from a daily rollup, exact, so a year reads in well under 1 s.

Every finished day (before today, UTC) is summed up once per grouping in `analytics_rollup`:
ticket counts, SLA met/missed, misroutes, ratings, classifier coverage, resolved hours, the SLA
events' outcomes, and a histogram of each duration (first response, resolution) in fixed
log-spaced buckets. A question over a window reads those rows for the clean days inside it and
computes the rest live from the tickets with the same code (`_facts` → `_Acc.add`): today, a
window's partial first and last day, days not built yet, days marked dirty and days gone stale.

- Dirty: `record_event` (router/lifecycle/records.py) and a flush hook for tickets, ratings and
  requesters' department or branch mark the ticket's creation day in `analytics_dirty` when that
  day is over; the sweeper rebuilds the day and removes the marks it saw. A mark that lands
  while a day is being rebuilt survives the rebuild, so the day stays live until the next one.
- Stale: open tickets' figures change by the clock alone (a deadline passing makes them missed).
  A day built before such a deadline carries `stale_at`, the earliest of them, and is read live
  from then on until it is rebuilt.
- Percentiles: nearest rank over the merged distribution; values from the rollup stand for
  their bucket's geometric middle, so a percentile is within BUCKET_ERROR (2.2 %) of the exact
  one, or reads 0 when it is under a minute. Figures computed live are exact values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.types import DateTime

from models.db import (
    AnalyticsDay,
    AnalyticsDirty,
    AnalyticsRollup,
    Employee,
    Feedback,
    Ticket,
    TicketEvent,
)
from models.types import OPEN_STATUSES, utcnow
from router import analytics_slices as slicing
from router.analytics import AUTO_ROUTED, GROUPS, WindowError

# What each rollup row counts, in the order of its packed `counts` array.
COUNTS = (
    "tickets",
    "response_met",
    "response_missed",
    "resolution_met",
    "resolution_missed",
    "with_due",
    "reassigned",
    "rating_total",
    "ratings",
    "auto",
    "auto_kept",
    "resolved",
    "resolved_hours",
    "ev_response_met",
    "ev_response_breached",
    "ev_resolution_met",
    "ev_resolution_breached",
)
C = {name: i for i, name in enumerate(COUNTS)}
# The groupings kept per day; week is the day's Monday. Other combinations are computed live.
GROUPINGS = (
    (),
    ("channel",),
    ("service",),
    ("team",),
    ("department",),
    ("branch",),
    ("department", "branch"),
    ("status",),
    ("routing",),
)
# Histogram buckets: under a minute, then [MINUTE·r^(k-1), MINUTE·r^k) hours, r = 2^(1/16),
# up to ten years (longer durations count in the last bucket).
MINUTE = 1 / 60
RATIO = 2 ** (1 / 16)
BUCKETS = 2 + math.ceil(math.log(24 * 3653 / MINUTE, RATIO))
BUCKET_ERROR = math.sqrt(RATIO) - 1  # 0.0219: the largest relative error of a bucket's middle
REPRESENTATIVE = np.array([0.0] + [MINUTE * RATIO ** (k - 0.5) for k in range(1, BUCKETS)])
PAIR = np.dtype([("b", "<u2"), ("n", "<u4")])
TRIPLE = np.dtype([("g", "<u4"), ("b", "<u2"), ("n", "<u4")])
# The rollup does not build a day until this long after it ended: a transaction that touched a
# ticket of that day before midnight (not marking it, it was today) has committed by then.
SETTLE = timedelta(minutes=15)


def bucket(hours: float) -> int:
    if hours < MINUTE:
        return 0
    return min(BUCKETS - 1, 1 + int(math.floor(math.log(hours / MINUTE, RATIO))))


@dataclass
class _Acc:
    """One group's sums: counts, the rollup's histogram and exact live values per duration."""

    counts: Any = field(default_factory=lambda: np.zeros(len(COUNTS)))
    hist: Any = field(default_factory=lambda: np.zeros(2 * BUCKETS, dtype=np.int64))
    exact: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))

    def add(self, fact: _Fact) -> None:
        self.counts += fact.counts
        for i, hours in enumerate(fact.durations):
            if hours is not None:
                self.exact[i].append(hours)

    def packed_hist(self) -> bytes:
        for i, values in enumerate(self.exact):
            for hours in values:
                self.hist[i * BUCKETS + bucket(hours)] += 1
        nonzero = np.flatnonzero(self.hist)
        pairs = np.empty(len(nonzero), dtype=PAIR)
        pairs["b"], pairs["n"] = nonzero, self.hist[nonzero]
        return pairs.tobytes()

    def percentile(self, duration: int, q: float) -> float | None:
        reps = self.hist[duration * BUCKETS : (duration + 1) * BUCKETS]
        live = self.exact[duration]
        if not live:  # all from the rollup: the buckets are in order already
            cumulative = np.cumsum(reps)
            n = int(cumulative[-1])
            if n == 0:
                return None
            rank = max(1, math.ceil(q * n - 1e-9))
            return float(REPRESENTATIVE[int(np.searchsorted(cumulative, rank))])
        values = np.concatenate([REPRESENTATIVE, np.asarray(live, dtype=float)])
        weights = np.concatenate([reps, np.ones(len(live), dtype=np.int64)])
        n = int(weights.sum())
        order = np.argsort(values, kind="stable")
        rank = max(1, math.ceil(q * n - 1e-9))
        at = int(np.searchsorted(np.cumsum(weights[order]), rank))
        return float(values[order][at])


@dataclass
class _Fact:
    """One ticket's contribution: its group values, counts and durations."""

    day: date
    keys: dict[str, Any]
    counts: Any
    durations: tuple[float | None, float | None]
    stale_at: datetime | None


def _facts_query(where: Sequence[ColumnElement[bool]]) -> Any:
    global _FACTS
    if _FACTS is None:
        _FACTS = _facts_select()
    return _FACTS.where(*where)


_FACTS: Any = None


# One correlated look-up of the ticket's events (by ticket id), as bits: reassigned, then the SLA
# events' outcomes. EXISTS per flag would let PostgreSQL hash all events of the kind instead.
EVENT_FLAGS = (
    ("reassigned", None),
    ("sla_met", "response"),
    ("sla_breached", "response"),
    ("sla_met", "resolution"),
    ("sla_breached", "resolution"),
)


def naive(column: Any) -> Any:
    """Naive UTC as stored: skips UTCDateTime's per-value conversion (thousands of rows)."""
    return type_coerce(column, DateTime()).label(column.key)


def _facts_select() -> Any:
    e = aliased(TicketEvent)
    flags = sum(
        (
            (2**i)
            * func.max(
                case((and_(e.kind == kind, *([e.to_value == clock] if clock else [])), 1), else_=0)
            )
            for i, (kind, clock) in enumerate(EVENT_FLAGS)
        ),
        literal(0),
    )
    events = (
        select(flags)
        .where(e.ticket_id == Ticket.id, e.kind.in_({k for k, _ in EVENT_FLAGS}))
        .scalar_subquery()
    )
    rating = aliased(Feedback)
    rated = aliased(Feedback)
    return (
        select(
            naive(Ticket.created_at),
            Ticket.status,
            Ticket.team_code,
            Ticket.origin_channel,
            Ticket.service_code,
            Ticket.routing,
            Ticket.predicted_service_code,
            Employee.department,
            Employee.branch,
            naive(Ticket.response_due_at),
            naive(Ticket.resolution_due_at),
            naive(Ticket.first_response_at),
            naive(Ticket.resolved_at),
            naive(Ticket.closed_at),
            naive(Ticket.sla_paused_at),
            events,
            select(func.sum(rating.rating)).where(rating.ticket_id == Ticket.id).scalar_subquery(),
            select(func.count(rated.id)).where(rated.ticket_id == Ticket.id).scalar_subquery(),
        )
        .select_from(Ticket)
        .outerjoin(Employee, Employee.id == Ticket.requester_id)
    )


def _facts(session: Session, where: Sequence[ColumnElement[bool]], now: datetime) -> list[_Fact]:
    """Each ticket's figures as the direct queries (router/analytics*.py) count them at `now`."""
    out = []
    now = now.astimezone(UTC).replace(tzinfo=None)  # the rows' times are naive UTC
    if session.get_bind().dialect.name == "postgresql":
        # Compiling this short query costs more than running it (JIT is for long scans).
        session.execute(text("SET LOCAL jit = off"))
    for row in session.connection().execute(_facts_query(where)):
        (created, status, team, channel, service, routing, predicted, department, branch) = row[:9]
        response_due, resolution_due, responded, resolved, closed, paused = row[9:15]
        bits, rating_total, ratings = int(row[15] or 0), row[16], row[17]
        fixed, r_met, r_late, s_met, s_late = (bits >> i & 1 for i in range(len(EVENT_FLAGS)))
        counts = np.zeros(len(COUNTS))
        finished = resolved if resolved is not None else closed
        is_open = status in OPEN_STATUSES
        stale: list[datetime] = []
        counts[C["tickets"]] = 1
        if response_due is not None:
            if responded is not None:
                counts[C["response_met" if responded <= response_due else "response_missed"]] = 1
            elif response_due < now:
                counts[C["response_missed"]] = 1
            else:
                stale.append(response_due)
        if resolution_due is not None:
            counts[C["with_due"]] = 1
            late_done = finished is not None and finished > resolution_due
            running = is_open and paused is None
            if late_done or (running and resolution_due < now):
                counts[C["resolution_missed"]] = 1
            elif finished is not None:
                counts[C["resolution_met"]] = 1
            if running and not late_done and resolution_due >= now:
                stale.append(resolution_due)
        counts[C["reassigned"]] = 1 if fixed else 0
        counts[C["rating_total"]] = float(rating_total or 0)
        counts[C["ratings"]] = int(ratings or 0)
        if routing in AUTO_ROUTED:
            counts[C["auto"]] = 1
            kept = service is not None and service == predicted
            counts[C["auto_kept"]] = 1 if kept else 0
        first = _hours(created, responded)
        resolution = _hours(created, resolved)
        if resolution is not None:
            counts[C["resolved"]], counts[C["resolved_hours"]] = 1, resolution
        for clock, met, late in (("response", r_met, r_late), ("resolution", s_met, s_late)):
            if late or met:
                counts[C[f"ev_{clock}_{'breached' if late else 'met'}"]] = 1
        keys = {
            "channel": channel,
            "service": service,
            "team": team,
            "department": department,
            "branch": branch,
            "status": status,
            "routing": routing,
        }
        out.append(
            _Fact(created.date(), keys, counts, (first, resolution), min(stale, default=None))
        )
    return out


def _hours(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds() / 3600.0


def _week(day: date) -> str:
    return (day - timedelta(days=day.weekday())).isoformat()


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _day_range(day: date) -> list[ColumnElement[bool]]:
    start = _midnight(day)
    return [Ticket.created_at >= start, Ticket.created_at < start + timedelta(days=1)]


# ---------------------------------------------------------------- building


def build_day(session: Session, day: date, *, now: datetime | None = None) -> int:
    """Sum up one finished day (all its groupings); returns the rollup rows written."""
    now = now or utcnow()
    seen = list(session.scalars(select(AnalyticsDirty.id).where(AnalyticsDirty.day == day)))
    facts = _facts(session, _day_range(day), now)
    session.execute(delete(AnalyticsRollup).where(AnalyticsRollup.day == day))
    session.execute(delete(AnalyticsDay).where(AnalyticsDay.day == day))
    for grouping in GROUPINGS:
        groups: dict[tuple[Any, ...], _Acc] = {}
        for fact in facts:
            groups.setdefault(tuple(fact.keys[d] for d in grouping), _Acc()).add(fact)
        if groups:
            session.add(_packed(day, ",".join(grouping), groups))
    stale = min((f.stale_at for f in facts if f.stale_at is not None), default=None)
    session.add(AnalyticsDay(day=day, built_at=now, stale_at=stale))
    if seen:
        session.execute(delete(AnalyticsDirty).where(AnalyticsDirty.id.in_(seen)))
    session.flush()
    return len(facts)


def _packed(day: date, grouping: str, groups: dict[tuple[Any, ...], _Acc]) -> AnalyticsRollup:
    """One row for all groups of a grouping on a day: keys as JSON, counts as a float64 matrix,
    the histograms as (group, bucket, count) triples."""
    ordered = sorted(groups.items(), key=lambda kv: slicing._sort_key(kv[0]))
    keys = [[None if k is None else str(k) for k in key] for key, _acc in ordered]
    counts = np.stack([acc.counts for _key, acc in ordered]).astype("<f8")
    parts = []
    for i, (_key, acc) in enumerate(ordered):
        pairs = np.frombuffer(acc.packed_hist(), dtype=PAIR)
        triples = np.empty(len(pairs), dtype=TRIPLE)
        triples["g"], triples["b"], triples["n"] = i, pairs["b"], pairs["n"]
        parts.append(triples)
    hist = np.concatenate(parts).tobytes() if parts else b""
    return AnalyticsRollup(
        day=day, grouping=grouping, keys=json.dumps(keys), counts=counts.tobytes(), hist=hist
    )


def days_to_build(session: Session, now: datetime | None = None) -> list[date]:
    """Finished days not built yet, marked dirty, or gone stale; oldest first."""
    now = now or utcnow()
    first = session.scalar(select(func.min(Ticket.created_at)))
    if first is None:
        return []
    last = (now - SETTLE).date()  # days before this one are over and settled
    built = {
        d: stale
        for d, stale in session.execute(
            select(AnalyticsDay.day, AnalyticsDay.stale_at).where(AnalyticsDay.day < last)
        )
    }
    dirty = set(session.scalars(select(AnalyticsDirty.day).distinct()))
    out = []
    day = first.date()
    while day < last:
        stale = built.get(day)
        if day not in built or day in dirty or (stale is not None and stale <= now):
            out.append(day)
        day += timedelta(days=1)
    return out


def refresh(sessions: Any, *, limit: int | None = None, now: datetime | None = None) -> int:
    """Build the days that need it (up to `limit`), BATCH_DAYS per transaction; returns days
    built. Two sweepers at once: on PostgreSQL one waits for the other's day (advisory lock)."""
    with sessions() as session:
        todo = days_to_build(session, now)
    todo = todo[:limit] if limit is not None else todo
    for start in range(0, len(todo), BATCH_DAYS):
        with sessions() as session, session.begin():
            for day in todo[start : start + BATCH_DAYS]:
                if session.get_bind().dialect.name == "postgresql":
                    session.execute(select(func.pg_advisory_xact_lock(0x0C0018, day.toordinal())))
                build_day(session, day, now=now)
    return len(todo)


BATCH_DAYS = 16


# ---------------------------------------------------------------- reading


@dataclass
class _Window:
    since: datetime | None
    until: datetime | None
    now: datetime
    clean: set[date]

    def live(self) -> list[ColumnElement[bool]] | None:
        """Tickets of the window outside its clean days, as created_at ranges (None: none)."""
        ranges: list[tuple[datetime | None, datetime | None]] = []
        start = self.since
        for day in sorted(self.clean):
            begin = _midnight(day)
            if start is None or begin > start:
                ranges.append((start, begin))
            start = begin + timedelta(days=1)
        ranges.append((start, self.until))
        parts = []
        for lo, hi in ranges:
            if lo is not None and hi is not None and lo >= hi:
                continue
            bounds = [Ticket.created_at >= lo] if lo is not None else []
            bounds += [Ticket.created_at < hi] if hi is not None else []
            parts.append(and_(*bounds) if bounds else Ticket.id.is_not(None))
        return [or_(*parts)] if parts else None


def _window(session: Session, since: datetime | None, until: datetime | None) -> _Window:
    now = utcnow()
    query = select(AnalyticsDay.day).where(
        or_(AnalyticsDay.stale_at.is_(None), AnalyticsDay.stale_at > now),
        ~exists().where(AnalyticsDirty.day == AnalyticsDay.day),
    )
    if since is not None:
        first = since.date() if since == _midnight(since.date()) else since.date() + timedelta(1)
        query = query.where(AnalyticsDay.day >= first)
    if until is not None:
        query = query.where(AnalyticsDay.day < until.date())
    return _Window(since, until, now, set(session.scalars(query)))


def _collect(
    session: Session,
    window: _Window,
    views: Sequence[tuple[str, ...]],
    timed: Sequence[tuple[str, ...]] = (),
) -> dict[tuple[str, ...], dict[tuple[Any, ...], _Acc]]:
    """Per view (dimension names, maybe with week): per group key, the summed figures; the
    duration histograms only for the `timed` views (they are most of the rollup's bytes)."""
    out: dict[tuple[str, ...], dict[tuple[Any, ...], _Acc]] = {v: {} for v in views}
    stored = {v: ",".join(d for d in v if d != "week") for v in views}
    if window.clean:
        _read_rollup(session, window, out, stored, {stored[v] for v in timed})
    live = window.live()
    facts = _facts(session, live, window.now) if live is not None else []
    if not facts:
        return out
    matrix = np.stack([f.counts for f in facts])
    for view, groups in out.items():
        index: dict[tuple[Any, ...], int] = {}
        where = [
            index.setdefault(
                tuple(_week(f.day) if d == "week" else f.keys[d] for d in view), len(index)
            )
            for f in facts
        ]
        summed = np.zeros((len(index), len(COUNTS)))
        np.add.at(summed, np.asarray(where, dtype=np.int64), matrix)
        accs = [groups.setdefault(key, _Acc()) for key in index]
        for acc, row in zip(accs, summed, strict=True):
            acc.counts += row
        if view in timed:
            for i, fact in zip(where, facts, strict=True):
                for d, hours in enumerate(fact.durations):
                    if hours is not None:
                        accs[i].exact[d].append(hours)
    return out


def _read_rollup(
    session: Session,
    window: _Window,
    out: dict[tuple[str, ...], dict[tuple[Any, ...], _Acc]],
    stored: dict[tuple[str, ...], str],
    timed: set[str],
) -> None:
    names = sorted(set(stored.values()))
    first, last = min(window.clean), max(window.clean)
    hist: Any = literal(None)
    if timed:
        hist = case((AnalyticsRollup.grouping.in_(sorted(timed)), AnalyticsRollup.hist))
    query = select(
        AnalyticsRollup.grouping,
        AnalyticsRollup.day,
        AnalyticsRollup.keys,
        AnalyticsRollup.counts,
        hist,
    ).where(
        AnalyticsRollup.grouping.in_(names),
        AnalyticsRollup.day >= first,
        AnalyticsRollup.day <= last,
    )
    rows = _fetch(session, query)
    by_grouping: dict[str, list[Any]] = {}
    for row in rows:
        if row[1] in window.clean:
            by_grouping.setdefault(row[0], []).append(row)
    for view, name in stored.items():
        if by_grouping.get(name):
            _merge(by_grouping[name], view, out[view])


def _fetch(session: Session, query: Any) -> list[Any]:
    """All rows; on PostgreSQL in binary (text would send each blob as hex: 2-3× slower)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return list(connection.execute(query))
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    with connection.connection.dbapi_connection.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        cursor.execute(str(compiled), compiled.params)
        return list(cursor.fetchall())


def _merge(rows: list[Any], view: tuple[str, ...], groups: dict[tuple[Any, ...], _Acc]) -> None:
    """Add one grouping's day rows into the view's groups (its keys, maybe with the week)."""
    weekly = "week" in view
    index: dict[tuple[Any, ...], int] = {}
    maps, offsets = [], []
    seen: dict[tuple[str, str], Any] = {}  # most days have the same groups, in the same order
    total = 0
    for _name, day, keys, _counts, _hist in rows:
        week = _week(day) if weekly else ""
        local = seen.get((week, keys))
        if local is None:
            prefix = (week,) if weekly else ()
            found = [index.setdefault(prefix + tuple(k), len(index)) for k in json.loads(keys)]
            local = seen[(week, keys)] = np.asarray(found, dtype=np.int64)
        maps.append(local)
        offsets.append(total)
        total += len(local)
    into = np.concatenate(maps)
    counts = np.frombuffer(b"".join(r[3] for r in rows), dtype="<f8").reshape(total, -1)
    summed = np.zeros((len(index), len(COUNTS)))
    np.add.at(summed, into, counts)
    if rows[0][4] is None:  # not asked for: no percentiles in this view
        hist = np.zeros((len(index), 2 * BUCKETS), dtype=np.int64)
        _add(groups, view, list(index), summed, hist)
        return
    triples = np.frombuffer(b"".join(r[4] for r in rows), dtype=TRIPLE)
    lengths = np.fromiter((len(r[4]) // TRIPLE.itemsize for r in rows), dtype=np.int64)
    base = np.repeat(np.asarray(offsets, dtype=np.int64), lengths)
    flat = into[base + triples["g"]] * (2 * BUCKETS) + triples["b"]
    hist = np.bincount(flat, weights=triples["n"], minlength=len(index) * 2 * BUCKETS)
    hist = hist.astype(np.int64).reshape(len(index), 2 * BUCKETS)
    _add(groups, view, list(index), summed, hist)


def _add(
    groups: dict[tuple[Any, ...], _Acc],
    view: tuple[str, ...],
    keys: list[tuple[Any, ...]],
    summed: Any,
    hist: Any,
) -> None:
    """Keys are in the stored order (week first, then GROUPINGS' order), as `view` is."""
    for i, key in enumerate(keys):
        acc = groups.setdefault(key, _Acc())
        acc.counts += summed[i]
        acc.hist += hist[i]


def _utc(moment: datetime | None, name: str) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise WindowError(name) from exc


def supported(group_by: Sequence[str]) -> bool:
    return tuple(sorted(d for d in group_by if d != "week")) in {
        tuple(sorted(g)) for g in GROUPINGS
    }


def slices(
    *,
    session: Session,
    since: datetime | None,
    until: datetime | None,
    group_by: Sequence[str],
) -> list[dict[str, Any]]:
    """As router/analytics_slices.slices over tickets created in [since, until)."""
    if not supported(group_by):  # a combination not kept per day: the direct scan
        from router.analytics import created_between

        where = created_between(since, until)
        return slicing.slices(session=session, where=where, group_by=group_by)
    canonical = _canonical(group_by)
    window = _window(session, _utc(since, "since"), _utc(until, "until"))
    groups = _collect(session, window, [canonical], [canonical])[canonical]
    return _rows(groups, canonical, group_by)


def _canonical(group_by: Sequence[str]) -> tuple[str, ...]:
    """The stored order of the dimensions (department before branch), week first."""
    rest = tuple(sorted((d for d in group_by if d != "week"), key=slicing.DIMENSIONS.index))
    return (("week",) if "week" in group_by else ()) + rest


def _reorder(key: tuple[Any, ...], canonical: tuple[str, ...], group_by: Sequence[str]) -> tuple:  # type: ignore[type-arg]
    given = dict(zip(canonical, key, strict=True))
    return tuple(given[d] for d in group_by)


def _metrics(acc: _Acc, spread: dict[str, float | None]) -> dict[str, Any]:
    c = acc.counts
    total, ratings, auto = int(c[C["tickets"]]), int(c[C["ratings"]]), int(c[C["auto"]])
    out = {
        "tickets": total,
        "response_sla_compliance": slicing._share(c[C["response_met"]], c[C["response_missed"]]),
        "resolution_sla_compliance": slicing._share(
            c[C["resolution_met"]], c[C["resolution_missed"]]
        ),
        "reassigned_share": slicing._ratio(c[C["reassigned"]], total),
        "average_rating": slicing._round(c[C["rating_total"]] / ratings if ratings else None, 2),
        "ratings": ratings,
        "classifier_coverage": slicing._ratio(auto, total),
        "classifier_precision": slicing._ratio(c[C["auto_kept"]], auto),
    }
    out.update(spread)
    return out


def _spreads(accs: list[_Acc]) -> list[dict[str, float | None]]:
    """p50/p90 of both durations per group: for groups read only from the rollup, all at once
    over their histograms (cumulative counts per row, then the first bucket reaching the rank)."""
    out: list[dict[str, float | None]] = [{} for _ in accs]
    hists = np.stack([a.hist for a in accs]) if accs else np.zeros((0, 2 * BUCKETS))
    for i, name in enumerate(slicing.DURATIONS):
        cumulative = np.cumsum(hists[:, i * BUCKETS : (i + 1) * BUCKETS], axis=1)
        n = cumulative[:, -1] if len(accs) else np.zeros(0)
        for label, q in slicing.PERCENTILES:
            column = f"{name}_{label}_hours"
            rank = np.maximum(1, np.ceil(q * n - 1e-9))
            at = np.minimum((cumulative < rank[:, None]).sum(axis=1), BUCKETS - 1)
            for g, acc in enumerate(accs):
                if acc.exact[i]:
                    value = acc.percentile(i, q)
                else:
                    value = float(REPRESENTATIVE[at[g]]) if n[g] else None
                out[g][column] = slicing._round(value, 2)
    return out


SUMMARY_VIEWS = ((), ("status",), ("team",), ("channel",), ("routing",), ("service",))


def summarize(
    *,
    session: Session,
    since: datetime | None,
    until: datetime | None,
    group_by: Sequence[str] = (),
) -> dict[str, Any]:
    """As router/analytics.summarize (and, with group_by, `slices`), in one read."""
    window = _window(session, _utc(since, "since"), _utc(until, "until"))
    views: list[tuple[str, ...]] = list(SUMMARY_VIEWS)
    extra = _canonical(group_by) if group_by and supported(group_by) else None
    if extra is not None and extra not in views:
        views.append(extra)
    got = _collect(session, window, views, [extra] if extra is not None else [])
    body = _summary(got)
    if group_by:
        if extra is None:
            rows = slices(session=session, since=since, until=until, group_by=group_by)
        else:
            rows = _rows(got[extra], extra, group_by)
        body.update(group_by=list(group_by), groups=rows)
    return body


def _rows(
    groups: dict[tuple[Any, ...], _Acc], canonical: tuple[str, ...], group_by: Sequence[str]
) -> list[dict[str, Any]]:
    keyed = [
        (_reorder(key, canonical, group_by), acc)
        for key, acc in groups.items()
        if acc.counts[C["tickets"]]
    ]
    keyed.sort(key=lambda ka: slicing._sort_key(ka[0]))
    spreads = _spreads([acc for _key, acc in keyed])
    out = []
    for (key, acc), spread in zip(keyed, spreads, strict=True):
        row: dict[str, Any] = dict(zip(group_by, key, strict=True))
        row.update(_metrics(acc, spread))
        out.append({k: row[k] for k in (*group_by, *slicing.METRICS)})
    return out


def _summary(got: dict[tuple[str, ...], dict[tuple[Any, ...], _Acc]]) -> dict[str, Any]:
    overall = next(iter(got[()].values()), _Acc()).counts

    def by(view: str) -> dict[str, int]:
        return {
            str(k[0]): int(a.counts[C["tickets"]])
            for k, a in got[(view,)].items()
            if a.counts[C["tickets"]]
        }

    total, ratings = int(overall[C["tickets"]]), int(overall[C["ratings"]])
    hours = {
        str(k[0]): round(float(a.counts[C["resolved_hours"]] / a.counts[C["resolved"]]), 2)
        for k, a in got[("team",)].items()
        if a.counts[C["resolved"]]
    }
    compliance: dict[str, Any] = {"response": {}, "resolution": {}}
    for clock, groups in compliance.items():
        for name, _column in GROUPS:
            cells = {}
            for key, acc in got[(name.removeprefix("by_"),)].items():
                met = int(acc.counts[C[f"ev_{clock}_met"]])
                late = int(acc.counts[C[f"ev_{clock}_breached"]])
                if met or late:
                    share = round(met / (met + late), 4)
                    cells[str(key[0])] = {"met": met, "breached": late, "compliance": share}
            groups[name] = cells
    return {
        "tickets": total,
        "by_status": by("status"),
        "by_team": by("team"),
        "by_channel": by("channel"),
        "by_routing": by("routing"),
        "auto_routed_share": _share(overall[C["auto"]], total),
        "reassigned_share": _share(overall[C["reassigned"]], total),
        "sla_breach_share": _share(overall[C["resolution_missed"]], overall[C["with_due"]]),
        "average_rating": round(float(overall[C["rating_total"]]) / ratings, 2)
        if ratings
        else None,
        "ratings": ratings,
        "resolution_hours_by_team": hours,
        "sla_compliance": compliance,
    }


def _share(part: Any, whole: Any) -> float | None:
    return round(int(part) / int(whole), 4) if int(whole) else None


def supported_views() -> Iterable[str]:
    return (",".join(g) or "(none)" for g in GROUPINGS)
