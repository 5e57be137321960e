"""The slices agree between the API's JSON, its CSV export, `okno report --json` and `--csv`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.app import create_app
from models.db import session_scope
from router.analytics_rollup import refresh
from router.runtime import Runtime
from scripts.cli import main
from tests.router.analytics_history import seed_slices
from tests.support.workflow import make_staff, make_ticket


@pytest.fixture
def cli_env(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = runtime.settings
    monkeypatch.setenv("OKNO_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("OKNO_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("OKNO_REDIS_URL", settings.redis_url)


@pytest.mark.parametrize(
    ("group_by", "rolled_up"),
    [
        ("team", False),
        ("week,department", False),
        ("branch,channel", False),
        ("", False),
        ("week,team", True),
        ("department,branch", True),
        ("", True),
    ],
)
def test_api_cli_and_export_agree(
    runtime: Runtime, cli_env: None, group_by: str, rolled_up: bool
) -> None:
    """`rolled_up`: the seeded days summed up by the sweeper's rollup first."""
    staff = make_staff(runtime)
    with session_scope(runtime.sessions) as session:
        seed_slices(session)
    if rolled_up:
        assert refresh(runtime.sessions) > 0
    client = TestClient(create_app(runtime))
    params = {"group_by": group_by, "since": "2026-01-01T00:00:00Z"}
    api = client.get("/api/v1/analytics/slices", params=params, headers=staff.analyst.headers)
    assert api.status_code == 200, api.text
    export = client.get(
        "/api/v1/analytics/slices/export", params=params, headers=staff.analyst.headers
    )
    assert export.headers["content-type"].startswith("text/csv")
    summary = client.get(
        "/api/v1/analytics/summary", params=params, headers=staff.analyst.headers
    ).json()
    args = ["report", "--since", "2026-01-01", "--group-by", group_by]
    as_json = CliRunner().invoke(main, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    as_csv = CliRunner().invoke(main, [*args, "--csv"])
    text = CliRunner().invoke(main, args)
    assert json.loads(as_json.output)["groups"] == api.json()["rows"]
    assert summary["tickets"] == 10 and summary["group_by"] == api.json()["group_by"]
    if group_by:
        assert summary["groups"] == api.json()["rows"]
    assert as_csv.output == export.text
    assert len(export.text.splitlines()) == len(api.json()["rows"]) + 1
    assert "res p50 h" in text.output and "tickets: 10" in text.output


def test_unknown_dimension_is_a_named_422(runtime: Runtime) -> None:
    staff = make_staff(runtime)
    client = TestClient(create_app(runtime))
    resp = client.get(
        "/api/v1/analytics/slices", params={"group_by": "colour"}, headers=staff.analyst.headers
    )
    assert resp.status_code == 422 and "colour" in resp.text
    denied = client.get("/api/v1/analytics/slices", headers=staff.hr.headers)
    assert denied.status_code == 403


def test_cached_summary_follows_new_data(runtime: Runtime) -> None:
    staff = make_staff(runtime)
    with session_scope(runtime.sessions) as session:
        seed_slices(session)
    client = TestClient(create_app(runtime))
    params = {"group_by": "team"}
    first = client.get("/api/v1/analytics/summary", params=params, headers=staff.analyst.headers)
    again = client.get("/api/v1/analytics/summary", params=params, headers=staff.analyst.headers)
    assert first.json() == again.json() and first.json()["tickets"] == 10
    with session_scope(runtime.sessions) as session:
        make_ticket(session, service="hr_certificate")
    fresh = client.get("/api/v1/analytics/summary", params=params, headers=staff.analyst.headers)
    assert fresh.json()["tickets"] == 11
    hr = next(g for g in fresh.json()["groups"] if g["team"] == "hr")
    assert hr["tickets"] == 6
