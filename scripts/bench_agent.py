"""`okno bench agent`: server time of the workspace's queue page with many open tickets."""

from __future__ import annotations

import json
import random
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from fastapi.testclient import TestClient
from sqlalchemy import insert

from api.app import create_app
from models.db import Ticket, session_scope
from models.migrate import upgrade
from router.catalog import load_catalog
from router.runtime import Runtime, build_runtime
from scripts.bench_pipeline import bench_settings
from scripts.bench_users import bench_token

TEAM, SERVICE = "hr", "hr_certificate"
OPEN = ("new", "assigned", "in_progress", "waiting_for_requester")


def fill(runtime: Runtime, tickets: int) -> None:
    """`tickets` open tickets of one team, due times spread over two weeks around now."""
    rng = random.Random(16)
    now = datetime.now(UTC)
    rows = [
        {
            "number": f"OKNO-A{i:07d}",
            "subject": f"Справка для визы №{i}",
            "service_code": SERVICE,
            "team_code": TEAM,
            "status": rng.choice(OPEN),
            "origin_channel": "email",
            "requester_address": f"user{i % 3000}@corp.example.com",
            "resolution_due_at": now + timedelta(minutes=rng.randint(-7 * 1440, 7 * 1440)),
            "created_at": now - timedelta(days=1),
            "updated_at": now - timedelta(days=1),
        }
        for i in range(1, tickets + 1)
    ]
    with session_scope(runtime.sessions) as session:
        for start in range(0, len(rows), 2000):
            session.execute(insert(Ticket), rows[start : start + 2000])


def sign_in(client: TestClient, runtime: Runtime) -> None:
    token = bench_token(runtime, email="bench@ssc.example.com", role="specialist", teams=[TEAM])
    form = client.get("/agent/login").text
    csrf = re.search(r'name="csrf" value="([^"]*)"', form)
    assert csrf
    answer = client.post("/agent/login", data={"token": token, "csrf": csrf.group(1)})
    assert answer.status_code == 303, answer.text


def measure(client: TestClient, requests: int, params: dict[str, str]) -> dict[str, float]:
    samples = []
    for i in range(requests + 5):
        began = time.perf_counter()
        response = client.get("/agent/", params=params)
        elapsed = (time.perf_counter() - began) * 1000
        assert response.status_code == 200 and "queue-rows" in response.text
        if i >= 5:  # the first ones warm the caches
            samples.append(elapsed)
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50": round(statistics.median(ordered), 1), "p99": round(p99, 1)}


@click.command("agent")
@click.option("--tickets", default=10_000, show_default=True, help="Open tickets in the team.")
@click.option("--requests", default=100, show_default=True)
@click.option("--database-url", default=None, help="Default: SQLite in a temporary directory.")
def bench_agent(tickets: int, requests: int, database_url: str | None) -> None:
    """Render time of /agent/ (the first 200 rows by due time) over TICKETS open tickets."""
    with tempfile.TemporaryDirectory(prefix="okno-bench-agent-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'okno.db'}"
        runtime = build_runtime(bench_settings(Path(tmp), url, None, None))
        try:
            result = _run(runtime, tickets, requests)
        finally:
            runtime.close()
    click.echo(
        f"/agent/ over {tickets:,} open tickets: p50 {result['queue_p50_ms']} ms, "
        f"p99 {result['queue_p99_ms']} ms; filtered (mine) p50 {result['mine_p50_ms']} ms; "
        f"search p50 {result['search_p50_ms']} ms"
    )
    click.echo(json.dumps(result))


def _run(runtime: Runtime, tickets: int, requests: int) -> dict[str, Any]:
    upgrade(runtime.settings.effective_database_url)
    with session_scope(runtime.sessions) as session:
        load_catalog(runtime.settings.catalog_file, session=session)
    fill(runtime, tickets)
    with TestClient(create_app(runtime), follow_redirects=False) as client:
        sign_in(client, runtime)
        queue = measure(client, requests, {})
        mine = measure(client, requests, {"who": "mine"})
        search = measure(client, max(10, requests // 5), {"q": "визы №77"})
    return {
        "tickets": tickets,
        "backend": runtime.engine.dialect.name,
        "queue_p50_ms": queue["p50"],
        "queue_p99_ms": queue["p99"],
        "mine_p50_ms": mine["p50"],
        "search_p50_ms": search["p50"],
    }
