"""Working-time calendars: weekly hours, holidays, transferred workdays, time zones (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 24 * 60
ALWAYS = "always"
# A calendar that is open at least once a week finds an open hour within a year even
# through the longest holiday run; the cap only guards against a bug looping forever.
MAX_DAYS = 3 * 366
_INTERVAL = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")

Interval = tuple[int, int]  # minutes from the local midnight; end > start, up to 2 * 1440


class CalendarError(ValueError):
    """A calendar entry that cannot be used; `key` names the field at fault."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class Calendar:
    """Open hours per weekday in a time zone, with closed dates and extra worked dates."""

    code: str
    timezone: str
    week: tuple[tuple[Interval, ...], ...]
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    workday_hours: tuple[Interval, ...] = ()
    holidays_from: str | None = None
    not_holidays: frozenset[date] = frozenset()
    not_workdays: frozenset[date] = frozenset()
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", ZoneInfo(self.timezone))

    def hours_on(self, day: date) -> tuple[Interval, ...]:
        """The open intervals that start on this local date."""
        if self.is_workday(day):
            return self.workday_hours or _first_open(self.week)
        if self.is_holiday(day):
            return ()
        return self.week[day.weekday()]

    def is_holiday(self, day: date) -> bool:
        if day in self.holidays:
            return True
        if day in self.not_holidays or not self.holidays_from:
            return False
        return day in country_days(self.holidays_from, day.year)[0]

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.not_workdays or not self.holidays_from:
            return False
        return day in country_days(self.holidays_from, day.year)[1]


def always() -> Calendar:
    """The built-in 24x7 calendar (UTC; with no closed hours the zone does not matter)."""
    return Calendar(ALWAYS, "UTC", tuple(((0, DAY_MINUTES),) for _ in DAYS))


@lru_cache(maxsize=64)
def country_days(country: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """A country's public holidays and substituted days off, and its worked weekend days."""
    table = holidays_lib.country_holidays(country, years=year)
    closed = frozenset(d for d in table if d.year == year)
    worked = frozenset(d for d in table.weekend_workdays if d.year == year)
    return closed, worked


def _first_open(week: tuple[tuple[Interval, ...], ...]) -> tuple[Interval, ...]:
    """A transferred workday without its own hours works like the first open weekday."""
    return next((hours for hours in week if hours), ())


def open_intervals(cal: Calendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Open stretches in UTC, in order, from the one containing `start` (clipped to it) on."""
    local_day = start.astimezone(cal.zone).date() - timedelta(days=1)  # yesterday's overnight
    last = start
    for offset in range(MAX_DAYS):
        day = local_day + timedelta(days=offset)
        midnight = datetime(day.year, day.month, day.day, tzinfo=cal.zone)
        for begin, end in cal.hours_on(day):
            # Wall-clock arithmetic in the zone, then UTC: DST days are 23 or 25 hours long.
            s = (midnight + timedelta(minutes=begin)).astimezone(UTC)
            e = (midnight + timedelta(minutes=end)).astimezone(UTC)
            if e > last and e > s:  # never count a minute twice (overnight runs into a workday)
                yield max(s, last), e
                last = e
    raise CalendarError(cal.code, f"no open hours within {MAX_DAYS} days of {start.isoformat()}")


def add_working(cal: Calendar, start: datetime, amount: timedelta) -> datetime:
    """The instant when `amount` of working time has passed since `start`.

    A due time falls at the end of an open stretch rather than the start of the next one:
    one hour from Friday 17:00 in a 09:00-18:00 calendar is Friday 18:00.
    """
    start = _aware(start)
    if amount <= timedelta(0):
        return start
    left = amount
    for s, e in open_intervals(cal, start):
        if left <= e - s:
            return s + left
        left -= e - s
    raise AssertionError("unreachable: open_intervals raises first")


def working_between(cal: Calendar, start: datetime, end: datetime) -> timedelta:
    """Working time between two instants (zero when `end` is not after `start`)."""
    start, end = _aware(start), _aware(end)
    total = timedelta(0)
    if end <= start:
        return total
    for s, e in open_intervals(cal, start):
        if s >= end:
            break
        total += min(e, end) - s
    return total


def is_open(cal: Calendar, moment: datetime) -> bool:
    moment = _aware(moment)
    first = next(open_intervals(cal, moment))
    return first[0] <= moment


def _aware(moment: datetime) -> datetime:
    """Naive datetimes are UTC (that is how the database hands them back)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# --- reading a calendar from the catalogue -------------------------------------------------


def parse_calendar(code: str, spec: dict[str, Any]) -> Calendar:
    """Build a calendar from its catalogue entry; a CalendarError names the bad key."""
    unknown = set(spec) - _KEYS
    if unknown:
        raise CalendarError(sorted(unknown)[0], f"unknown key (expected one of {sorted(_KEYS)})")
    timezone = _zone(spec.get("timezone"))
    hours = spec.get("hours")
    if not isinstance(hours, dict) or not hours:
        raise CalendarError("hours", "needs a mapping of weekday to hours, e.g. mon: 09:00-18:00")
    bad_days = set(hours) - set(DAYS)
    if bad_days:
        raise CalendarError("hours", f"unknown weekday '{sorted(bad_days)[0]}' (use {DAYS})")
    week = tuple(parse_hours(hours.get(day), f"hours.{day}") for day in DAYS)
    if not any(week):
        raise CalendarError("hours", "the calendar is never open")
    check_week(week)
    country = spec.get("holidays_from")
    if country is not None:
        _country(country)
    workday_hours = parse_hours(spec.get("workday_hours"), "workday_hours")
    check_week((workday_hours,), "workday_hours")
    return Calendar(
        code=code,
        timezone=timezone,
        week=week,
        holidays=parse_dates(spec.get("holidays"), "holidays"),
        workdays=parse_dates(spec.get("workdays"), "workdays"),
        workday_hours=workday_hours,
        holidays_from=country,
        not_holidays=parse_dates(spec.get("not_holidays"), "not_holidays"),
        not_workdays=parse_dates(spec.get("not_workdays"), "not_workdays"),
    )


_KEYS = {
    "code",
    "timezone",
    "hours",
    "holidays",
    "workdays",
    "workday_hours",
    "holidays_from",
    "not_holidays",
    "not_workdays",
}


def _zone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise CalendarError("timezone", "needs an IANA zone name such as Europe/Moscow")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarError("timezone", f"unknown time zone '{value}'") from exc
    return value


def _country(value: Any) -> None:
    try:
        holidays_lib.country_holidays(str(value), years=2026)
    except NotImplementedError as exc:
        raise CalendarError("holidays_from", f"no holiday table for country '{value}'") from exc


def parse_hours(value: Any, key: str) -> tuple[Interval, ...]:
    """'09:00-13:00,14:00-18:00' → ((540, 780), (840, 1080)); 'x-y' with y <= x runs overnight."""
    if value is None or value == "" or value == "closed":
        return ()
    if not isinstance(value, str):
        raise CalendarError(key, f"hours must be text like '09:00-18:00', not {value!r}")
    intervals = [_interval(part.strip(), key) for part in value.split(",")]
    return tuple(sorted(intervals))


def _interval(text: str, key: str) -> Interval:
    match = _INTERVAL.match(text)
    if not match:
        raise CalendarError(key, f"'{text}' is not an interval like 09:00-18:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise CalendarError(key, f"'{text}' is not a time of day")
    begin, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= begin:
        end += DAY_MINUTES  # overnight: 22:00-06:00 closes the next morning
    return begin, end


def check_week(week: tuple[tuple[Interval, ...], ...], key: str = "hours") -> None:
    """Refuse intervals that overlap, including an overnight one running into the next day."""
    spans: list[tuple[int, int, str, int]] = []
    period = len(week) * DAY_MINUTES
    for index, hours in enumerate(week):
        for begin, end in hours:
            s, e = index * DAY_MINUTES + begin, index * DAY_MINUTES + end
            label = _label(index, begin, end, len(week))
            spans.append((s, min(e, period), label, index))
            if e > period and len(week) > 1:  # Sunday night runs into Monday
                spans.append((0, e - period, label, index))
    spans.sort()
    for (_, e1, a, _), (s2, _, b, day) in zip(spans, spans[1:], strict=False):
        if s2 < e1:
            where = f"{key}.{DAYS[day]}" if len(week) > 1 else key
            raise CalendarError(where, f"intervals {a} and {b} overlap")


def _label(index: int, begin: int, end: int, days: int) -> str:
    text = f"{begin // 60:02d}:{begin % 60:02d}-{end % DAY_MINUTES // 60:02d}:{end % 60:02d}"
    if end == DAY_MINUTES:
        text = text[:6] + "24:00"
    return f"{DAYS[index]} {text}" if days > 1 else text


def parse_dates(value: Any, key: str) -> frozenset[date]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise CalendarError(key, f"must be a list of dates like 2027-01-01, not {value!r}")
    return frozenset(parse_date(item, key) for item in value)


def parse_date(value: Any, key: str) -> date:
    # PyYAML already turns an unquoted 2027-01-01 into a date; a quoted one is text.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise CalendarError(key, f"'{value}' is not a date (YYYY-MM-DD)") from exc
