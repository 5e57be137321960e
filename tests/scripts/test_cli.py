"""The `okno` CLI's foundation commands: settings errors, migrations, the catalogue."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from channels.email.settings import load_email_settings
from models.db import ProcessTemplate, Service, Team
from models.settings import SettingsError, load_settings
from router.catalog import CatalogError, read_catalog
from scripts.cli import main
from tests.conftest import CATALOG


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Path:
    monkeypatch.setenv("OKNO_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OKNO_REDIS_URL", redis_url)
    monkeypatch.delenv("OKNO_DATABASE_URL", raising=False)
    return tmp_path


def test_db_upgrade_and_catalog_load(env: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["catalog", "load", str(CATALOG)])
    assert result.exit_code == 0, result.output
    assert "9 teams, 39 services, 3 processes" in result.output
    # Loading again is an upsert, not a duplicate.
    assert runner.invoke(main, ["catalog", "load", str(CATALOG)]).exit_code == 0
    engine = create_engine(f"sqlite:///{env / 'var' / 'okno.db'}")
    with Session(engine) as session:
        assert session.scalar(select(func.count(Service.id))) == 39
        assert session.scalar(select(func.count(Team.id))) == 9
        assert session.scalar(select(func.count(ProcessTemplate.id))) == 3


def test_bad_catalogue_is_one_line_error(env: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    bad = env / "bad.yaml"
    bad.write_text(
        "teams: [{code: triage, name_ru: a, name_en: b}]\nservices:\n"
        "  - {code: x, team: nope, name_ru: a, name_en: b, response_hours: 1,"
        " resolution_hours: 2}\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["catalog", "load", str(bad)])
    assert result.exit_code == 1
    assert "service x: unknown team 'nope'" in result.output
    missing = runner.invoke(main, ["catalog", "load", str(env / "missing.yaml")])
    assert missing.exit_code == 1 and "not found" in missing.output


def test_bad_setting_names_the_variable(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKNO_DATABASE_URL", "oracle://nope")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "OKNO_DATABASE_URL" in result.output
    monkeypatch.delenv("OKNO_DATABASE_URL")
    with pytest.raises(SettingsError, match="OKNO_DEFAULT_TIMEZONE"):
        load_settings(default_timezone="Mars/Olympus")
    with pytest.raises(SettingsError, match="OKNO_REDIS_URL"):
        load_settings(redis_url="http://x")


def test_bad_log_level_is_a_one_line_setting_error(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKNO_LOG_LEVEL", "bogus")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "bad setting OKNO_LOG_LEVEL: Value error, must be one of DEBUG, INFO" in result.output
    assert "Traceback" not in result.output
    assert load_settings(log_level="warning").log_level == "WARNING"


def children_of_this_process() -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == os.getpid():
            pids.append(int(stat.parent.name))
    return pids


def test_run_refuses_a_bad_channel_setting_before_starting_anything(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKNO_SMTP_PORT", "abc")
    before = children_of_this_process()
    result = CliRunner().invoke(main, ["run", "--port", "0"])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[-1].startswith("Error: bad setting OKNO_SMTP_PORT")
    assert "Traceback" not in result.output
    assert children_of_this_process() == before
    assert not (env / "var" / "okno.db").exists()  # not even migrated


def test_catalogue_validation(tmp_path: Path) -> None:
    data = read_catalog(CATALOG)
    assert len(data["services"]) >= 30 and len(data["teams"]) >= 9
    for svc in data["services"]:
        assert svc["name_ru"] and svc["name_en"] and svc["resolution_hours"] > 0
    broken = tmp_path / "broken.yaml"
    broken.write_text("teams: [unclosed", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid YAML"):
        read_catalog(broken)
    no_triage = tmp_path / "no_triage.yaml"
    no_triage.write_text("teams: [{code: hr}]\nservices: [{code: a}]\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="triage"):
        read_catalog(no_triage)


def test_report_prints_statistics(env: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"])
    runner.invoke(main, ["catalog", "load", str(CATALOG)])
    text = runner.invoke(main, ["report"])
    assert text.exit_code == 0, text.output
    assert "tickets: 0" in text.output and "SLA breached: —" in text.output
    as_json = runner.invoke(main, ["report", "--json", "--since", "2026-01-01"])
    assert as_json.exit_code == 0
    assert json.loads(as_json.output)["tickets"] == 0


def test_channel_settings_that_are_not_json_name_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OKNO_IMAP_MAILBOXES", "[{not json")
    with pytest.raises(SettingsError, match="OKNO_IMAP_MAILBOXES: not valid JSON"):
        load_email_settings()
