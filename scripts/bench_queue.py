"""`okno bench queue`: the specialist's queue and text search over a large PostgreSQL database."""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from api.app import create_app
from models.db import Ticket, session_scope
from models.migrate import upgrade
from router.catalog import load_catalog
from router.runtime import Runtime, build_runtime
from scripts.bench_pipeline import bench_settings
from scripts.bench_users import bench_token

WORDS = [
    "принтер",
    "не",
    "печатает",
    "пропуск",
    "отпуск",
    "справка",
    "зарплата",
    "доступ",
    "пароль",
    "ноутбук",
    "монитор",
    "printer",
    "broken",
    "badge",
    "vacation",
    "certificate",
    "salary",
    "access",
    "password",
    "laptop",
    "monitor",
    "договор",
    "командировка",
    "парковка",
    "уборка",
    "переговорная",
    "invoice",
    "contract",
    "travel",
    "parking",
]
# A long tail beside the common words: real searches mix frequent and rare terms.
TAIL = [f"{stem}{n}" for stem in ("заявка", "ticket", "код", "room") for n in range(2500)]
OPEN = ("new", "assigned", "in_progress", "waiting_for_requester")
BENCH_TEAM = "it_desk"


def _services(runtime: Runtime) -> list[tuple[str, str]]:
    with session_scope(runtime.sessions) as session:
        rows = session.execute(text("SELECT code, team_code FROM services WHERE active"))
        return [(r[0], r[1]) for r in rows]


def _rows(start: int, count: int, open_share: float, services: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    """(ticket row, its message's text) for tickets start … start + count - 1."""
    rng = random.Random(start)
    now = datetime.now(UTC).replace(tzinfo=None)
    for i in range(start, start + count):
        service, team = services[i % len(services)]
        is_open = rng.random() < open_share
        status = rng.choice(OPEN) if is_open else "closed"
        created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
        due = created + timedelta(hours=rng.randint(2, 96))
        subject = " ".join(rng.choices(WORDS, k=4)) + f" {i}"
        body = " ".join(rng.choices(WORDS, k=6) + rng.choices(TAIL, k=24))
        yield (
            i, f"OKNO-B{i:08d}", subject, service, team, status, "normal", "email",
            f"user{i % 5000}@corp.example", f"User {i % 5000}", True, "ru", "auto",
            "[]", "[]", "[]", due, 1, created, created, " " + body.lower(),
        ), body  # fmt: skip


TICKET_COLUMNS = (
    "id, number, subject, service_code, team_code, status, priority, origin_channel, "
    "requester_address, requester_name, requester_verified, language, routing, candidates, "
    "reasons, notes, resolution_due_at, version, created_at, updated_at, search_body"
)
MESSAGE_COLUMNS = "ticket_id, direction, channel, body, attachments, created_at"


def fill(runtime: Runtime, tickets: int, open_share: float) -> float:
    """COPY `tickets` tickets with one message each; returns the seconds it took.

    The message trigger that keeps `search_body` is off during the COPY: the ticket rows carry
    the text already (what the trigger would have written)."""
    began = time.perf_counter()
    services = _services(runtime)
    raw = runtime.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("ALTER TABLE ticket_messages DISABLE TRIGGER ticket_messages_search_body")
        # A trigram index is built far faster at once than row by row.
        cursor.execute("SELECT pg_get_indexdef('ix_ticket_search_trgm'::regclass)")
        trigram_index = cursor.fetchone()[0]  # type: ignore[index]
        cursor.execute("DROP INDEX ix_ticket_search_trgm")
        chunk = 100_000
        for start in range(1, tickets + 1, chunk):
            rows = list(_rows(start, min(chunk, tickets + 1 - start), open_share, services))
            with cursor.copy(f"COPY tickets ({TICKET_COLUMNS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for ticket, _body in rows:
                    copy.write_row(ticket)
            with cursor.copy(f"COPY ticket_messages ({MESSAGE_COLUMNS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for ticket, body in rows:
                    copy.write_row((ticket[0], "inbound", "email", body, "[]", ticket[18]))
            raw.commit()
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(trigram_index)
        cursor.execute("ALTER TABLE ticket_messages ENABLE TRIGGER ticket_messages_search_body")
        cursor.execute("SELECT setval('tickets_id_seq', (SELECT max(id) FROM tickets))")
        cursor.execute("ANALYZE tickets")
        cursor.execute("ANALYZE ticket_messages")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - began


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50": round(statistics.median(ordered), 2), "p99": round(p99, 2)}


def measure(client: TestClient, token: str, requests: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(7)

    def timed(params: dict[str, str]) -> float:
        began = time.perf_counter()
        response = client.get("/api/v1/queue", params=params, headers=headers)
        elapsed = (time.perf_counter() - began) * 1000
        assert response.status_code == 200, response.text
        return elapsed

    for _ in range(5):  # warm the caches and the connection pool
        timed({"team": BENCH_TEAM})
    queue = [timed({"team": BENCH_TEAM}) for _ in range(requests)]
    terms = [rng.choice(WORDS) if i % 2 else rng.choice(TAIL) for i in range(requests // 2)]
    search = [timed({"team": BENCH_TEAM, "q": term}) for term in terms]
    return {"queue": _percentiles(queue), "search": _percentiles(search)}


@click.command("queue")
@click.option("--tickets", default=1_000_000, show_default=True)
@click.option("--open-share", default=0.10, show_default=True)
@click.option("--requests", default=200, show_default=True)
@click.option("--database-url", required=True, help="PostgreSQL; its tickets are replaced.")
@click.option("--reset", is_flag=True, help="Drop what the database holds and fill it again.")
@click.option("--json", "as_json", is_flag=True, help="Last line: one JSON object.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench/queue-postgresql.md"))
def bench_queue(
    tickets: int,
    open_share: float,
    requests: int,
    database_url: str,
    reset: bool,
    as_json: bool,
    out: Path,
) -> None:
    """A team's first queue page and text search over TICKETS tickets (COPY-filled)."""
    if not database_url.startswith("postgresql"):
        raise click.UsageError("--database-url must be a PostgreSQL URL")
    with tempfile.TemporaryDirectory(prefix="okno-bench-") as tmp:
        settings = bench_settings(Path(tmp), database_url, None, None)
        runtime = build_runtime(settings)
        try:
            result = _run(runtime, tickets, open_share, requests, reset)
        finally:
            runtime.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_report(result), encoding="utf-8")
    click.echo(
        f"queue ({tickets:,} tickets, {result['open_in_team']:,} open in {BENCH_TEAM}): "
        f"first page p50 {result['queue_p50_ms']} ms, p99 {result['queue_p99_ms']} ms; "
        f"search p50 {result['search_p50_ms']} ms, p99 {result['search_p99_ms']} ms"
    )
    click.echo(json.dumps(result) if as_json else json.dumps(result, indent=2))


def _report(result: dict[str, Any]) -> str:
    load = os.getloadavg()
    return "\n".join(
        [
            f"# okno bench queue — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"PostgreSQL, {result['tickets']:,} tickets (10 % open), {result['open_in_team']:,} "
            f"open in team {BENCH_TEAM}; {os.cpu_count()} cores, load average at the end "
            f"{load[0]:.1f}. Times are one GET /api/v1/queue through FastAPI's TestClient "
            "(auth, query, serialisation); search terms alternate between common words and a "
            "long tail.",
            "",
            "| measure | p50 | p99 | target (p99) |",
            "| --- | --- | --- | --- |",
            f"| first page, sorted by due time | {result['queue_p50_ms']} ms | "
            f"{result['queue_p99_ms']} ms | 50 ms |",
            f"| text search | {result['search_p50_ms']} ms | {result['search_p99_ms']} ms | "
            "200 ms |",
            "",
            "```json",
            json.dumps(result),
            "```",
            "",
        ]
    )


def _run(runtime: Runtime, tickets: int, open_share: float, requests: int, reset: bool) -> dict:  # type: ignore[type-arg]
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
    fill_s = fill(runtime, tickets, open_share) if not have else 0.0
    with session_scope(runtime.sessions) as session:
        open_in_team = session.scalar(
            select(func.count(Ticket.id)).where(
                Ticket.team_code == BENCH_TEAM, Ticket.status.in_(OPEN)
            )
        )
    with TestClient(create_app(runtime)) as client:
        numbers = measure(
            client,
            bench_token(
                runtime, email="bench@ssc.example.com", role="specialist", teams=[BENCH_TEAM]
            ),
            requests,
        )
    return {
        "tickets": tickets,
        "open_in_team": open_in_team,
        "fill_s": round(fill_s, 1),
        "queue_p50_ms": numbers["queue"]["p50"],
        "queue_p99_ms": numbers["queue"]["p99"],
        "search_p50_ms": numbers["search"]["p50"],
        "search_p99_ms": numbers["search"]["p99"],
    }
