"""`okno bench sla`: what one SLA sweep tick costs with a million open tickets on PostgreSQL."""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from sqlalchemy import create_engine, text

from models.db import make_sessionmaker, session_scope
from models.engine import make_engine
from models.migrate import upgrade
from router.catalog import load_catalog
from router.lifecycle.sla_alerts import BATCH, check_due

TICKET_COLUMNS = (
    "id, number, subject, service_code, team_code, status, priority, origin_channel, "
    "requester_verified, language, routing, candidates, reasons, notes, response_due_at, "
    "resolution_due_at, version, created_at, updated_at"
)
CLOCK_COLUMNS = (
    "ticket_id, clock, calendar, target_seconds, elapsed_seconds, running_since, due_at, "
    "next_check_at, cycle, warned_cycle"
)
CATALOG = Path("training_data/catalog.yaml")


def fill(url: str, tickets: int, due_now: int) -> float:
    """COPY open tickets with two running clocks each; `due_now` of them at their 80 % mark."""
    began = time.perf_counter()
    rng = random.Random(13)
    now = datetime.now(UTC).replace(tzinfo=None)
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for start in range(1, tickets + 1, 100_000):
            ids = range(start, min(start + 100_000, tickets + 1))
            with cursor.copy(f"COPY tickets ({TICKET_COLUMNS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for i in ids:
                    created = now - timedelta(minutes=rng.randint(0, 600))
                    copy.write_row((
                        i, f"OKNO-B{i:08d}", f"bench {i}", "sec_incident", "security", "new",
                        "critical", "email", False, "ru", "auto", "[]", "[]", "[]",
                        created + timedelta(hours=1), created + timedelta(hours=8), 1,
                        created, created,
                    ))  # fmt: skip
            with cursor.copy(f"COPY sla_clocks ({CLOCK_COLUMNS}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for i in ids:
                    for clock, hours in (("response", 1), ("resolution", 8)):
                        late = i <= due_now and clock == "response"
                        since = now - timedelta(minutes=50 if late else 1)
                        check = (
                            now if late else now + timedelta(minutes=rng.randint(1, 60 * 24 * 30))
                        )
                        copy.write_row((
                            i, clock, "always", hours * 3600.0, 0.0, since,
                            since + timedelta(hours=hours), check, 0, -1,
                        ))  # fmt: skip
            raw.commit()
        cursor.execute("SELECT setval('tickets_id_seq', (SELECT max(id) FROM tickets))")
        cursor.execute("ANALYZE tickets")
        cursor.execute("ANALYZE sla_clocks")
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return time.perf_counter() - began


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.2f} ms, p99 {p99:.2f} ms"


@click.command("sla")
@click.option("--database-url", required=True, help="A PostgreSQL database of its own.")
@click.option("--tickets", default=1_000_000, show_default=True)
@click.option("--due-now", default=2_000, show_default=True, help="Clocks at their warning now.")
@click.option("--reset", is_flag=True, help="Drop and recreate the database's public schema.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench/sla-postgresql.md"))
def bench_sla(database_url: str, tickets: int, due_now: int, reset: bool, out: Path) -> None:
    """Cost of one sweep tick: batches of due clocks, then idle ticks (the index, no scan)."""
    if reset:
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as session:
        load_catalog(CATALOG, session=session)
    filled = fill(database_url, tickets, due_now)
    click.echo(f"filled {tickets} open tickets, {2 * tickets} clocks in {filled:.0f} s")
    busy, idle, fired = [], [], 0
    while True:
        began = time.perf_counter()
        with session_scope(sessions) as session:
            tick = check_due(session=session, now=datetime.now(UTC), share=0.8)
        busy.append((time.perf_counter() - began) * 1000)
        fired += tick.warnings
        if tick.checked < BATCH:
            break
    for _ in range(200):
        began = time.perf_counter()
        with session_scope(sessions) as session:
            check_due(session=session, now=datetime.now(UTC), share=0.8)
        idle.append((time.perf_counter() - began) * 1000)
    with engine.connect() as conn:
        plan = conn.execute(
            text(
                "EXPLAIN SELECT * FROM sla_clocks WHERE next_check_at <= now() "
                "ORDER BY next_check_at LIMIT 500 FOR UPDATE SKIP LOCKED"
            )
        ).scalars()
        plan_text = "\n".join(plan)
    engine.dispose()
    report = (
        f"# okno bench sla (PostgreSQL)\n\n{tickets} open tickets, {2 * tickets} running "
        f"clocks; {due_now} at their warning mark.\n\n"
        f"- busy ticks (batch of {BATCH}, {fired} warnings written with events and mails): "
        f"{len(busy)} ticks, {_ms(busy)}\n"
        f"- idle ticks (nothing due): {_ms(idle)}\n\n```\n{plan_text}\n```\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")
    click.echo(report)
