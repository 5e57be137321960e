"""`okno sla due` and the catalogue's calendars: the issue's example, validation with lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from models.db import Service, SlaCalendar
from scripts.cli import main
from scripts.report_cli import _compliance
from tests.conftest import CATALOG

EXAMPLE = """\
default_calendar: msk_office
calendars:
  - code: msk_office
    timezone: Europe/Moscow
    hours: {mon: "09:00-18:00", tue: "09:00-18:00", wed: "09:00-18:00", thu: "09:00-18:00",
            fri: "09:00-18:00"}
    holidays: ["2026-12-07"]
teams:
  - {code: triage, name_ru: Диспетчерская, name_en: Triage}
  - {code: desk, name_ru: Деск, name_en: Desk}
services:
  - {code: office_svc, team: desk, name_ru: а, name_en: a, calendar: msk_office,
     response_hours: 4, resolution_hours: 16}
  - {code: noc_svc, team: desk, name_ru: б, name_en: b, calendar: always,
     response_minutes: 15, resolution_minutes: 240}
  - {code: plain_svc, team: desk, name_ru: в, name_en: c, response_hours: 1, resolution_hours: 2}
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Path:
    monkeypatch.setenv("OKNO_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OKNO_REDIS_URL", redis_url)
    monkeypatch.delenv("OKNO_DATABASE_URL", raising=False)
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    return tmp_path


def load(env: Path, text: str) -> tuple[int, str]:
    path = env / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["catalog", "load", str(path)])
    return result.exit_code, result.output


def due(*args: str) -> dict[str, str]:
    result = CliRunner().invoke(main, ["sla", "due", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_issue_example_friday_evening_over_a_monday_holiday(env: Path) -> None:
    assert load(env, EXAMPLE)[0] == 0
    out = due("--service", "office_svc", "--at", "2026-12-04T17:00:00+03:00")
    assert out == {
        "response_due_at": "2026-12-08T12:00:00+03:00",
        "resolution_due_at": "2026-12-09T15:00:00+03:00",
        "calendar": "msk_office",
    }
    # Without an offset --at is the calendar's local time; priority factors still apply.
    out = due("--service", "office_svc", "--at", "2026-12-04T17:00", "--priority", "high")
    assert out["response_due_at"] == "2026-12-08T10:00:00+03:00"  # 2 h: 1 Friday + 1 Tuesday


def test_minutes_always_and_the_default_calendar(env: Path) -> None:
    assert load(env, EXAMPLE)[0] == 0
    out = due("--service", "noc_svc", "--at", "2026-12-05T23:50:00+03:00")
    assert out["calendar"] == "always"
    assert out["response_due_at"] == "2026-12-06T00:05:00+03:00"
    assert out["resolution_due_at"] == "2026-12-06T03:50:00+03:00"
    assert due("--service", "plain_svc", "--at", "2026-12-04T17:30")["calendar"] == "msk_office"


def test_shipped_catalogue_branch_and_security_calendars(env: Path) -> None:
    code, output = load(env, CATALOG.read_text(encoding="utf-8"))
    assert code == 0, output
    friday = "2026-12-04T17:30:00+03:00"
    office = due("--service", "hr_certificate", "--at", friday)
    assert office["calendar"] == "ru_office"
    assert office["response_due_at"] == "2026-12-07T12:30:00+03:00"  # 0.5 h Fri + 3.5 h Mon
    nsk = due("--service", "hr_certificate", "--branch", "nsk", "--at", friday)
    assert nsk["calendar"] == "nsk_office"  # Friday 21:30 there: closed until Monday 09:00
    assert nsk["response_due_at"] == "2026-12-07T13:00:00+07:00"  # 4 h, before lunch
    incident = due("--service", "sec_incident", "--branch", "nsk", "--at", friday)
    assert incident["calendar"] == "always"
    assert incident["response_due_at"] == "2026-12-04T18:30:00+03:00"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("Europe/Moscow", "Europe/Atlantis"), "line 4: calendar msk_office: timezone: unknown"),
        (('fri: "09:00-18:00"', 'fri: "09:00-13:00,12:00-18:00"'), "line 6: calendar msk_office"),
        (('["2026-12-07"]', '["2026-12-07", "2026-13-01"]'), "line 7: calendar msk_office"),
        (("calendar: always", "calendar: nope"), "line 14: service noc_svc: unknown calendar"),
        (("response_hours: 1,", "response_hours: 1, response_minutes: 5,"), "line 16: service"),
    ],
)
def test_bad_calendar_data_is_refused_with_the_line_and_nothing_is_loaded(
    env: Path, change: tuple[str, str], expected: str
) -> None:
    code, output = load(env, EXAMPLE.replace(*change))
    assert code == 1
    assert expected in output, output
    engine = create_engine(f"sqlite:///{env / 'var' / 'okno.db'}")
    with Session(engine) as session:
        assert session.scalar(select(func.count(Service.id))) == 0
        assert session.scalar(select(func.count(SlaCalendar.id))) == 0
    engine.dispose()


def test_unknown_service_is_a_usage_error(env: Path) -> None:
    result = CliRunner().invoke(main, ["sla", "due", "--service", "nope", "--json"])
    assert result.exit_code == 2 and "unknown service 'nope'" in result.output


def test_report_prints_sla_compliance_per_clock_and_team() -> None:
    lines = _compliance(
        {"response": {"by_team": {"hr": {"met": 9, "breached": 1, "compliance": 0.9}}}}
    )
    assert lines == ["response SLA met by team: hr 90.0% (9/10)"]
