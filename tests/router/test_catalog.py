"""Catalogue validation: a wrong type names its entry in one line, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from router.catalog import CatalogError, read_catalog
from scripts.cli import main

TEAMS = "teams:\n  - {code: triage, name_ru: Диспетчерская, name_en: Triage}\n"
SERVICE = "{code: x, team: triage, name_ru: a, name_en: b, response_hours: 4, resolution_hours: 8"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_minimal_catalogue_reads(tmp_path: Path) -> None:
    data = read_catalog(write(tmp_path, f"{TEAMS}services:\n  - {SERVICE}}}\n"))
    assert data["services"][0]["resolution_hours"] == 8


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"teams: {{a: 1}}\nservices:\n  - {SERVICE}}}\n", "'teams' must be a list of entries"),
        (f"teams: [hr]\nservices:\n  - {SERVICE}}}\n", "team #1 must be a mapping, not 'hr'"),
        (f"{TEAMS}services: {{x: 1}}\n", "'services' must be a list of entries"),
        (f"{TEAMS}services:\n  - [x]\n", "service #1 must be a mapping"),
        (
            f"{TEAMS}services:\n  - {SERVICE.replace('4', 'eight')}}}\n",
            "service x: 'response_hours' must be a positive number, not 'eight'",
        ),
        (
            f"{TEAMS}services:\n  - {SERVICE.replace('8', '-5')}}}\n",
            "service x: 'resolution_hours' must be a positive number, not -5",
        ),
        (
            f"{TEAMS}services:\n  - {SERVICE}, priority: urgent}}\n",
            "service x: unknown priority 'urgent'",
        ),
        (
            f"{TEAMS}services:\n  - {SERVICE}}}\npriorities: {{normal: {{response_factor: 0}}}}\n",
            "priority normal: 'response_factor' must be a positive number, not 0",
        ),
        (
            f"{TEAMS}services:\n  - {SERVICE}}}\nprocesses: {{p: {{steps: [{{service: y}}]}}}}\n",
            "process p: unknown service 'y'",
        ),
    ],
)
def test_wrong_types_name_the_entry(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(CatalogError) as caught:
        read_catalog(write(tmp_path, text))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_yaml_syntax_error_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as caught:
        read_catalog(write(tmp_path, f"{TEAMS}services:\n  - {SERVICE}\n"))
    assert "not valid YAML" in str(caught.value) and "at line 5, column 1" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_catalog_load_exits_1_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("OKNO_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OKNO_REDIS_URL", redis_url)
    monkeypatch.delenv("OKNO_DATABASE_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    bad = write(tmp_path, f"teams: {{a: 1}}\nservices:\n  - {SERVICE}}}\n")
    result = runner.invoke(main, ["catalog", "load", str(bad)])
    assert result.exit_code == 1
    assert result.output == "Error: 'teams' must be a list of entries, not dict\n"
