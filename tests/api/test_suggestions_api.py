"""Suggestions over the API (analysts and leads) and `okno report suggestions`, the same list."""

from __future__ import annotations

import json

from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.app import create_app
from models.db import session_scope
from router.runtime import Runtime
from scripts.cli import main
from tests.api.test_analytics_slices_api import cli_env  # noqa: F401 (a fixture)
from tests.router.analytics_history import seed_suggestions
from tests.support.workflow import make_staff

SINCE = {"since": "2026-01-01T00:00:00Z"}


def test_list_dismiss_done_and_cli_agree(runtime: Runtime, cli_env: None) -> None:  # noqa: F811
    staff = make_staff(runtime)
    with session_scope(runtime.sessions) as session:
        seed_suggestions(session)
    client = TestClient(create_app(runtime))
    url = "/api/v1/analytics/suggestions"
    listed = client.get(url, params=SINCE, headers=staff.lead.headers)
    assert listed.status_code == 200, listed.text
    found = listed.json()["suggestions"]
    assert sorted(s["kind"] for s in found) == ["baseline", "new_service", "recurring"]
    assert all({"kind", "service", "department", "requests"} <= set(s) for s in found)
    cli = CliRunner().invoke(main, ["report", "suggestions", "--since", "2026-01-01", "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output.splitlines()[-1]) == {"suggestions": found}
    text = CliRunner().invoke(main, ["report", "suggestions", "--since", "2026-01-01"]).output
    assert "baseline" in text and "every 30.0 days" in text and "procurement" in text

    baseline = next(s for s in found if s["kind"] == "baseline")
    recurring = next(s for s in found if s["kind"] == "recurring")
    h = staff.analyst.headers
    done = client.post(f"{url}/{baseline['id']}/dismiss", params=SINCE, headers=h)
    assert done.status_code == 200 and done.json()["suggestions"][0]["state"] == "dismissed"
    assert client.post(f"{url}/{recurring['id']}/done", params=SINCE, headers=h).status_code == 200
    left = client.get(url, params=SINCE, headers=h).json()["suggestions"]
    assert [s["kind"] for s in left] == ["new_service"]
    every = client.get(url, params={**SINCE, "include_closed": "true"}, headers=h).json()
    assert sorted(s["state"] for s in every["suggestions"]) == ["dismissed", "done", "open"]
    again = client.post(f"{url}/{baseline['id']}/reopen", params=SINCE, headers=h)
    assert again.status_code == 200
    assert len(client.get(url, params=SINCE, headers=h).json()["suggestions"]) == 2

    assert client.post(f"{url}/nope/dismiss", params=SINCE, headers=h).status_code == 404
    assert client.post(f"{url}/{baseline['id']}/maybe", headers=h).status_code == 404
    assert client.get(url, headers=staff.hr.headers).status_code == 403  # specialists: no
