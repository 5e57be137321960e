"""`okno bench analytics`: the analytics summary and its slices over a large PostgreSQL database."""

from __future__ import annotations

import json
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from api.app import create_app
from models.db import AnalyticsRollup, Ticket, session_scope
from models.migrate import upgrade
from router.catalog import load_catalog
from router.runtime import Runtime, build_runtime
from scripts.bench_pipeline import bench_settings
from scripts.bench_queue import _percentiles, _services
from scripts.bench_users import bench_token

EMPLOYEES = 5000
DEPARTMENTS = [f"dept-{n:02d}" for n in range(40)]
BRANCHES = ["Moscow", "Kazan", "Perm", "Tomsk", "Samara", "Omsk"]
CHANNELS = ("email", "webform", "telegram", "phone")
GROUPINGS = ("", "team", "week", "department,branch", "week,service", "channel")
TICKET_COLUMNS = (
    "id, number, subject, service_code, predicted_service_code, team_code, status, priority, "
    "origin_channel, requester_id, requester_address, requester_verified, language, routing, "
    "candidates, reasons, notes, response_due_at, resolution_due_at, first_response_at, "
    "resolved_at, closed_at, version, created_at, updated_at"
)


def _ticket(i: int, rng: random.Random, services: list[tuple[str, str]], now: datetime) -> tuple:  # type: ignore[type-arg]
    service, team = services[i % len(services)]
    created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
    done = rng.random() < 0.9
    answered = created + timedelta(hours=rng.expovariate(1 / 3)) if rng.random() < 0.95 else None
    resolved = created + timedelta(hours=rng.expovariate(1 / 30)) if done else None
    predicted = service if rng.random() < 0.9 else rng.choice(services)[0]
    return (
        i, f"OKNO-A{i:08d}", f"bench {i}", service, predicted, team,
        "closed" if done else "new", "normal", CHANNELS[i % 4], 1 + i % EMPLOYEES,
        f"user{i % EMPLOYEES}@corp.example", True, "ru",
        "service" if rng.random() < 0.7 else "triage", "[]", "[]", "[]",
        created + timedelta(hours=4), created + timedelta(hours=rng.choice((8, 24, 72))),
        answered, resolved, resolved, 1, created, created,
    )  # fmt: skip


def fill(runtime: Runtime, tickets: int) -> float:
    """COPY employees, `tickets` tickets, a rating for a fifth and a reassignment for a tenth."""
    began = time.perf_counter()
    services = _services(runtime)
    rng, now = random.Random(18), datetime.now().replace(microsecond=0)
    raw = runtime.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT pg_get_indexdef('ix_ticket_search_trgm'::regclass)")
        trigram_index = cursor.fetchone()[0]  # type: ignore[index]
        cursor.execute("DROP INDEX ix_ticket_search_trgm")
        with cursor.copy(
            "COPY employees (id, name, email, department, branch, active, created_at) FROM STDIN"
        ) as copy:  # type: ignore[attr-defined]
            for e in range(1, EMPLOYEES + 1):
                copy.write_row((e, f"User {e}", f"user{e}@corp.example", DEPARTMENTS[e % 40], BRANCHES[e % 6], True, now))  # fmt: skip
        chunk = 100_000
        for start in range(1, tickets + 1, chunk):
            rows = [_ticket(i, rng, services, now) for i in range(start, min(start + chunk, tickets + 1))]  # fmt: skip
            with cursor.copy(f"COPY tickets ({TICKET_COLUMNS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
            with cursor.copy("COPY feedback (ticket_id, rating, created_at) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows[::5]:
                    copy.write_row((row[0], 1 + row[0] % 5, row[-1]))
            with cursor.copy(
                "COPY ticket_events (ticket_id, kind, actor, data, created_at) FROM STDIN"
            ) as copy:  # type: ignore[attr-defined]
                for row in rows[::10]:
                    copy.write_row((row[0], "reassigned", "bench", "{}", row[-1]))
            raw.commit()
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(trigram_index)
        for table in ("employees", "tickets"):
            cursor.execute(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
        for table in ("employees", "tickets", "feedback", "ticket_events"):
            cursor.execute(f"ANALYZE {table}")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - began


def measure(
    client: TestClient, runtime: Runtime, token: str, requests: int, cold: int
) -> dict[str, dict[str, dict[str, float]]]:
    """p50/p99 of `/api/v1/analytics/summary?group_by=…` per grouping, in milliseconds: `cold`
    with the result cache emptied before each request (finished days from the daily rollup,
    today and changed days from the tickets), then `requests` warm."""
    headers = {"Authorization": f"Bearer {token}"}

    def timed(grouping: str) -> float:
        began = time.perf_counter()
        response = client.get(
            "/api/v1/analytics/summary", params={"group_by": grouping}, headers=headers
        )
        assert response.status_code == 200, response.text
        return (time.perf_counter() - began) * 1000

    out: dict[str, dict[str, dict[str, float]]] = {"cold": {}, "warm": {}}
    timed(GROUPINGS[-1])  # unmeasured: the process's first request (imports, compiled SQL, pool)
    for grouping in GROUPINGS:
        name = grouping or "(none)"
        samples = []
        for _ in range(cold):
            for key in runtime.redis.scan_iter("okno:analytics:*"):
                runtime.redis.delete(key)
            samples.append(timed(grouping))
        out["cold"][name] = _percentiles(samples)
        out["warm"][name] = _percentiles([timed(grouping) for _ in range(requests)])
    return out


@click.command("analytics")
@click.option("--tickets", default=1_000_000, show_default=True)
@click.option("--requests", default=20, show_default=True, help="Warm, per grouping.")
@click.option("--cold", default=3, show_default=True, help="Cache emptied first, per grouping.")
@click.option("--database-url", required=True, help="PostgreSQL; its tickets are replaced.")
@click.option("--reset", is_flag=True, help="Drop what the database holds and fill it again.")
@click.option("--json", "as_json", is_flag=True, help="Last line: one JSON object.")
def bench_analytics(
    tickets: int, requests: int, cold: int, database_url: str, reset: bool, as_json: bool
) -> None:
    """The analytics summary, whole and sliced, over TICKETS tickets (COPY-filled)."""
    if not database_url.startswith("postgresql"):
        raise click.UsageError("--database-url must be a PostgreSQL URL")
    with tempfile.TemporaryDirectory(prefix="okno-bench-") as tmp:
        runtime = build_runtime(bench_settings(Path(tmp), database_url, None, None))
        try:
            result = _run(runtime, tickets, requests, cold, reset)
        finally:
            runtime.close()
    r = result["rollup"]
    click.echo(f"rollup: {r['days_built']} days built in {r['build_s']} s, {r['rows']:,} rows")
    click.echo(f"analytics summary over {tickets:,} tickets (ms):")
    for grouping in result["summary_ms"]["cold"]:
        c, w = result["summary_ms"]["cold"][grouping], result["summary_ms"]["warm"][grouping]
        click.echo(
            f"  group_by={grouping:<20} cold p50 {c['p50']:>9} p99 {c['p99']:>9}"
            f"   warm p50 {w['p50']:>7} p99 {w['p99']:>7}"
        )
    click.echo(json.dumps(result) if as_json else json.dumps(result, indent=2))


def _run(runtime: Runtime, tickets: int, requests: int, cold: int, reset: bool) -> dict[str, Any]:
    if reset:
        with runtime.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(runtime.settings.effective_database_url)
    with session_scope(runtime.sessions) as session:
        load_catalog(runtime.settings.catalog_file, session=session)
        have = session.scalar(select(func.count(Ticket.id))) or 0
    if have and have != tickets:
        raise click.UsageError(f"the database holds {have} tickets, not {tickets}: use --reset")
    fill_s = fill(runtime, tickets) if not have else 0.0
    from router.analytics_rollup import refresh

    began = time.perf_counter()
    rollup_days = refresh(runtime.sessions)  # what the sweeper does, a few days per pass
    rollup_s = time.perf_counter() - began
    with session_scope(runtime.sessions) as session:
        rollup_rows = session.scalar(select(func.count(AnalyticsRollup.id))) or 0
    with TestClient(create_app(runtime)) as client:
        numbers = measure(
            client,
            runtime,
            bench_token(runtime, email="bench-analyst@ssc.example.com", role="analyst", teams=[]),
            requests,
            cold,
        )
    return {
        "tickets": tickets,
        "fill_s": round(fill_s, 1),
        "rollup": {"days_built": rollup_days, "build_s": round(rollup_s, 1), "rows": rollup_rows},
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
        "summary_ms": numbers,
    }
