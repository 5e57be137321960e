"""`okno bench outage`: a Redis kill -9 under web-form load against a real `okno run`."""

from __future__ import annotations

import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import create_engine, text

from scripts.outage import OutageReport, outage_run


@click.command("outage")
@click.option(
    "--outage", "outage_s", default=15.0, show_default=True, help="Seconds Redis is down."
)
@click.option("--rate", default=20.0, show_default=True, help="Web forms posted per second.")
@click.option("--deadline", default=120.0, show_default=True, help="Seconds to wait for tickets.")
@click.option(
    "--embedded", is_flag=True, help="Kill the embedded redis-server okno run supervises instead."
)
@click.option(
    "--database-url",
    default=None,
    help="A PostgreSQL database to EMPTY and use (default: SQLite in a temporary directory).",
)
@click.option("--out", type=click.Path(path_type=Path), default=None)
def bench_outage(
    outage_s: float,
    rate: float,
    deadline: float,
    embedded: bool,
    database_url: str | None,
    out: Path | None,
) -> None:
    """Post forms, kill -9 a real redis-server, start it again on its port, count tickets."""
    if database_url:
        _empty(database_url)
    with tempfile.TemporaryDirectory(prefix="okno-bench-outage-") as tmp:
        report = outage_run(
            Path(tmp),
            outage=outage_s,
            rate=rate,
            deadline=deadline,
            embedded=embedded,
            database_url=database_url,
        )
    backend = "PostgreSQL" if database_url else "SQLite"
    text = render(report, outage_s, rate, embedded, backend)
    out = out or Path(f"bench/outage-{'embedded' if embedded else backend.lower()}.md")
    click.echo(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def render(report: OutageReport, outage_s: float, rate: float, embedded: bool, backend: str) -> str:
    c = report.count
    recovery = f"{report.recovery_seconds:.1f} s" if report.recovery_seconds is not None else "—"
    return "\n".join(
        [
            f"# okno bench outage — {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
            "",
            _setup(outage_s, rate, embedded, backend) + f" Machine: {platform.platform()}.",
            "",
            "| acknowledged (202) | ticketed | lost | doubled | Redis back → last ticket |",
            "| --- | --- | --- | --- | --- |",
            f"| {c.acknowledged} | {c.ticketed} | {c.lost} | {c.doubled} | {recovery} |",
            "",
            f"Acknowledged before the kill: {report.acked_before_kill}, while Redis was away: "
            f"{report.acked_during_outage}, after it came back: "
            f"{c.acknowledged - report.acked_before_kill - report.acked_during_outage}. "
            f"Not acknowledged (errors or refusals): {len(report.refused)}; "
            f"/readyz during the outage: {report.readyz_during[0]}; "
            f"`okno run` exit code after SIGTERM: {report.exit_code}; "
            f"children left behind: {len(report.leftover_pids)}.",
            "",
        ]
    )


def _setup(outage_s: float, rate: float, embedded: bool, backend: str) -> str:
    if embedded:
        return (
            f"Real `okno run` (2 workers, {backend}, embedded redis-server with its snapshot); web "
            f"forms at {rate:g}/s; the embedded redis-server killed with kill -9 and restarted by "
            "the supervisor."
        )
    return (
        f"Real `okno run` (2 workers, {backend}) on a real redis-server without persistence; web "
        f"forms at {rate:g}/s; Redis kill -9 for {outage_s:g} s, then started again on the "
        "same port."
    )


def _empty(database_url: str) -> None:
    """Drop and recreate the public schema: `okno run` migrates it from scratch."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
