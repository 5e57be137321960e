"""`okno directory import`: a real CSV through the CLI into the database, summary on the last line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from models.db import Employee
from router.runtime import Runtime
from scripts.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "directory"


@pytest.fixture
def cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OKNO_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("OKNO_DATABASE_URL", runtime.settings.effective_database_url)
    return CliRunner()


def run_import(cli: CliRunner, file: Path, *flags: str) -> tuple[list[str], dict[str, Any]]:
    result = cli.invoke(main, ["directory", "import", str(file), *flags])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    return lines, json.loads(lines[-1])


def people(runtime: Runtime) -> dict[str, Employee]:
    with runtime.sessions() as session:
        return {e.email or "": e for e in session.scalars(select(Employee))}


def test_semicolons_and_bom_import_good_rows_and_name_the_bad(
    cli: CliRunner, runtime: Runtime
) -> None:
    lines, summary = run_import(cli, FIXTURES / "employees_semicolon_bom.csv")
    assert summary == {
        "created": 2,
        "updated": 0,
        "deactivated": 0,
        "rejected": [
            {"line": 4, "reason": "email is not an e-mail address: 'not-an-email'"},
            {"line": 5, "reason": "not a phone number: '12345'"},
            {"line": 6, "reason": "unknown time zone 'Mars/Olympus'"},
        ],
    }
    assert "2 created, 0 updated, 0 unchanged, 0 deactivated, 3 rejected" in lines[-2]
    found = people(runtime)
    assert set(found) == {"a.petrova@corp.example.com", "s.volkov@corp.example.com"}
    anna = found["a.petrova@corp.example.com"]  # the BOM did not eat the first column's name
    assert (anna.name, anna.phone, anna.department, anna.branch) == (
        "Анна Петрова",
        "+79123456789",
        "Бухгалтерия",
        "Казань",
    )
    assert anna.manager_email == "s.volkov@corp.example.com" and anna.source == "csv"
    assert found["s.volkov@corp.example.com"].phone == "+74959876543"  # extension dropped


def test_commas_upsert_by_email_and_deactivate_the_missing(
    cli: CliRunner, runtime: Runtime
) -> None:
    run_import(cli, FIXTURES / "employees_semicolon_bom.csv")
    _, dry = run_import(cli, FIXTURES / "employees_comma.csv", "--deactivate-missing", "--dry-run")
    assert (dry["created"], dry["updated"], dry["deactivated"]) == (2, 0, 1)
    assert len(people(runtime)) == 2  # a dry run changes nothing

    _, summary = run_import(cli, FIXTURES / "employees_comma.csv", "--deactivate-missing")
    assert summary == {"created": 2, "updated": 0, "deactivated": 1, "rejected": []}
    found = people(runtime)
    assert found["jane.doe@corp.example.com"].department == "Legal, Contracts"
    assert found["j.smith@corp.example.com"].phone == "+442079460958"
    assert found["s.volkov@corp.example.com"].active is False  # kept, with its history
    assert found["a.petrova@corp.example.com"].active is True

    _, again = run_import(cli, FIXTURES / "employees_semicolon_bom.csv")
    assert (again["created"], again["updated"]) == (0, 1)  # Volkov is back
    assert people(runtime)["s.volkov@corp.example.com"].active is True


def test_a_file_that_is_not_a_directory_is_one_error(cli: CliRunner, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("email,name\nj@corp.example.com,Jos\xe9\n".encode("latin-1"))
    result = cli.invoke(main, ["directory", "import", str(latin1)])
    assert result.exit_code == 1 and "not UTF-8" in result.output
    headless = tmp_path / "headless.csv"
    headless.write_text("name,phone\nJosé,+79123456789\n", encoding="utf-8")
    result = cli.invoke(main, ["directory", "import", str(headless)])
    assert result.exit_code == 1 and "no email column" in result.output
