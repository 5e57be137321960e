"""Working-time arithmetic: holidays, transferred days, split shifts, overnight, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from router.lifecycle.calendar import (
    DAYS,
    CalendarError,
    add_working,
    always,
    is_open,
    parse_calendar,
    working_between,
)

MSK = ZoneInfo("Europe/Moscow")
WEEKDAYS = DAYS[:5]


def office(**extra: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "timezone": "Europe/Moscow",
        "hours": {day: "09:00-18:00" for day in WEEKDAYS},
    }
    spec.update(extra)
    return spec


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)  # type: ignore[misc]


def h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def test_issue_example_friday_evening_over_a_monday_holiday() -> None:
    cal = parse_calendar("msk", office(holidays=["2026-12-07"]))
    asked = msk(2026, 12, 4, 17)
    assert add_working(cal, asked, h(4)) == msk(2026, 12, 8, 12)
    assert add_working(cal, asked, h(16)) == msk(2026, 12, 9, 15)
    assert working_between(cal, asked, msk(2026, 12, 9, 15)) == h(16)


def test_due_lands_at_the_end_of_a_stretch_not_the_next_morning() -> None:
    cal = parse_calendar("msk", office())
    assert add_working(cal, msk(2026, 12, 4, 17), h(1)) == msk(2026, 12, 4, 18)


def test_start_outside_hours_begins_at_the_next_opening() -> None:
    cal = parse_calendar("msk", office())
    assert add_working(cal, msk(2026, 12, 5, 11), h(2)) == msk(2026, 12, 7, 11)  # Saturday
    assert add_working(cal, msk(2026, 12, 8, 6), h(1)) == msk(2026, 12, 8, 10)  # before 09:00
    assert working_between(cal, msk(2026, 12, 5, 0), msk(2026, 12, 6, 23)) == timedelta(0)


def test_split_shift_skips_the_lunch_break() -> None:
    cal = parse_calendar(
        "split", office(hours={day: "09:00-13:00,14:00-18:00" for day in WEEKDAYS})
    )
    assert add_working(cal, msk(2026, 12, 8, 12), h(2)) == msk(2026, 12, 8, 15)
    assert working_between(cal, msk(2026, 12, 8, 9), msk(2026, 12, 8, 18)) == h(8)
    assert not is_open(cal, msk(2026, 12, 8, 13, 30))
    assert is_open(cal, msk(2026, 12, 8, 14))


def test_full_days_and_a_missing_day_is_closed() -> None:
    cal = parse_calendar(
        "wk", {"timezone": "Europe/Moscow", "hours": {"sat": "00:00-24:00", "sun": "00:00-24:00"}}
    )
    assert add_working(cal, msk(2026, 12, 4, 12), h(30)) == msk(2026, 12, 6, 6)
    assert working_between(cal, msk(2026, 12, 4), msk(2026, 12, 8)) == h(48)


def test_overnight_interval_runs_into_the_next_morning() -> None:
    cal = parse_calendar(
        "night",
        {"timezone": "Europe/Moscow", "hours": {"mon": "22:00-06:00", "tue": "22:00-06:00"}},
    )
    # Monday 23:00 + 5 h: one hour before midnight, four after → Tuesday 04:00.
    assert add_working(cal, msk(2026, 12, 7, 23), h(5)) == msk(2026, 12, 8, 4)
    # Tuesday 05:00 is still Monday's shift; 2 h → 1 h left, then Tuesday 22:00 + 1 h.
    assert add_working(cal, msk(2026, 12, 8, 5), h(2)) == msk(2026, 12, 8, 23)
    assert working_between(cal, msk(2026, 12, 7), msk(2026, 12, 10)) == h(16)


def test_sunday_night_shift_wraps_into_monday() -> None:
    cal = parse_calendar("sun", {"timezone": "UTC", "hours": {"sun": "20:00-04:00"}})
    start = datetime(2026, 12, 7, 1, tzinfo=UTC)  # Monday 01:00
    assert add_working(cal, start, h(3)) == datetime(2026, 12, 7, 4, tzinfo=UTC)
    assert add_working(cal, start, h(4)) == datetime(2026, 12, 13, 21, tzinfo=UTC)


def test_holiday_closes_a_whole_day_including_its_overnight_start() -> None:
    cal = parse_calendar(
        "night", {"timezone": "UTC", "hours": {"mon": "22:00-06:00"}, "holidays": ["2026-12-07"]}
    )
    start = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert add_working(cal, start, h(1)) == datetime(2026, 12, 14, 23, tzinfo=UTC)


def test_transferred_workday_with_its_own_hours() -> None:
    cal = parse_calendar("msk", office(workdays=["2027-11-06"], workday_hours="09:00-17:00"))
    friday_evening = msk(2027, 11, 5, 17)
    # 1 h on Friday, the whole Saturday 09-17 (8 h), then Monday.
    assert add_working(cal, friday_evening, h(9)) == msk(2027, 11, 6, 17)
    assert add_working(cal, friday_evening, h(10)) == msk(2027, 11, 8, 10)


def test_transferred_workday_without_hours_works_like_a_weekday() -> None:
    cal = parse_calendar("msk", office(workdays=["2027-11-06"]))
    assert working_between(cal, msk(2027, 11, 6), msk(2027, 11, 7)) == h(9)


def test_russian_production_calendar_from_the_library() -> None:
    cal = parse_calendar("ru", office(holidays_from="RU"))
    # New year 2027: closed from Jan 1 to Jan 8, first working day Monday Jan 11.
    assert add_working(cal, msk(2026, 12, 30, 17), h(2)) == msk(2027, 1, 11, 10)
    # 2026-12-31 is a substituted day off (for Sunday Jan 4) and 2027-02-20 a worked Saturday.
    assert cal.is_holiday(date(2026, 12, 31))
    assert cal.is_workday(date(2027, 2, 20))
    assert working_between(cal, msk(2027, 2, 20), msk(2027, 2, 21)) == h(9)
    assert working_between(cal, msk(2027, 2, 22), msk(2027, 2, 24)) == timedelta(0)


def test_library_dates_can_be_added_and_removed_in_the_catalogue() -> None:
    cal = parse_calendar(
        "ru",
        office(
            holidays_from="RU",
            holidays=["2026-12-30"],
            not_holidays=["2026-12-31"],
            not_workdays=["2027-02-20"],
        ),
    )
    assert cal.is_holiday(date(2026, 12, 30))
    assert not cal.is_holiday(date(2026, 12, 31))
    assert working_between(cal, msk(2026, 12, 31), msk(2027, 1, 1)) == h(9)
    assert working_between(cal, msk(2027, 2, 20), msk(2027, 2, 21)) == timedelta(0)


def test_dst_zone_full_day_is_23_hours_in_spring_and_25_in_autumn() -> None:
    cal = parse_calendar(
        "berlin", {"timezone": "Europe/Berlin", "hours": {d: "00:00-24:00" for d in DAYS}}
    )
    berlin = ZoneInfo("Europe/Berlin")
    spring, autumn = datetime(2026, 3, 29, tzinfo=berlin), datetime(2026, 10, 25, tzinfo=berlin)
    assert working_between(cal, spring, datetime(2026, 3, 30, tzinfo=berlin)) == h(23)
    assert working_between(cal, autumn, datetime(2026, 10, 26, tzinfo=berlin)) == h(25)


def test_dst_zone_office_hours_follow_the_local_clock() -> None:
    cal = parse_calendar(
        "ny", {"timezone": "America/New_York", "hours": {d: "09:00-17:00" for d in WEEKDAYS}}
    )
    ny = ZoneInfo("America/New_York")
    # Friday 2026-03-06 16:00 EST + 2 h → Monday 2026-03-09 10:00 EDT (clocks moved on Sunday).
    due = add_working(cal, datetime(2026, 3, 6, 16, tzinfo=ny), h(2))
    assert due == datetime(2026, 3, 9, 10, tzinfo=ny)
    assert due.astimezone(UTC) == datetime(2026, 3, 9, 14, tzinfo=UTC)
    before = add_working(cal, datetime(2026, 3, 2, 9, tzinfo=ny), h(1))
    assert before.astimezone(UTC) == datetime(2026, 3, 2, 15, tzinfo=UTC)


def test_dst_free_zone_keeps_its_utc_offset_all_year() -> None:
    cal = parse_calendar(
        "nsk", {"timezone": "Asia/Novosibirsk", "hours": {d: "09:00-18:00" for d in WEEKDAYS}}
    )
    for month in (1, 7):
        start = datetime(2026, month, 6, 0, tzinfo=UTC)  # a Tuesday in January, Monday in July
        due = add_working(cal, start, h(1))
        assert due.astimezone(UTC).hour == 3  # 09:00 + 1 h at UTC+7 is 03:00 UTC


def test_always_and_naive_instants_are_utc() -> None:
    start = datetime(2026, 12, 5, 23)
    assert add_working(always(), start, h(2)) == datetime(2026, 12, 6, 1, tzinfo=UTC)
    assert working_between(always(), start, start - h(1)) == timedelta(0)
    assert add_working(always(), start, timedelta(0)) == start.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "key", "reason"),
    [
        ({"timezone": "Mars/Olympus", "hours": {"mon": "09:00-18:00"}}, "timezone", "unknown"),
        ({"timezone": "UTC", "hours": {"mon": "09:00-13:00,12:00-18:00"}}, "hours.mon", "overlap"),
        (
            {"timezone": "UTC", "hours": {"mon": "22:00-06:00", "tue": "05:00-09:00"}},
            "hours.tue",
            "overlap",
        ),
        ({"timezone": "UTC", "hours": {"mon": "9-18"}}, "hours.mon", "not an interval"),
        ({"timezone": "UTC", "hours": {"mon": "09:00-25:00"}}, "hours.mon", "time of day"),
        ({"timezone": "UTC", "hours": {"fun": "09:00-18:00"}}, "hours", "weekday"),
        ({"timezone": "UTC", "hours": {"mon": ""}}, "hours", "never open"),
        (
            {"timezone": "UTC", "hours": {"mon": "09:00-18:00"}, "holidays": ["2027-02-30"]},
            "holidays",
            "not a date",
        ),
        (
            {"timezone": "UTC", "hours": {"mon": "09:00-18:00"}, "holidays_from": "XX"},
            "holidays_from",
            "country",
        ),
        (
            {"timezone": "UTC", "hours": {"mon": "09:00-18:00"}, "weekends": []},
            "weekends",
            "unknown key",
        ),
    ],
)
def test_bad_calendars_are_refused_with_the_key_and_reason(
    spec: dict[str, object], key: str, reason: str
) -> None:
    with pytest.raises(CalendarError) as caught:
        parse_calendar("bad", spec)
    assert caught.value.key == key
    assert reason in caught.value.reason
