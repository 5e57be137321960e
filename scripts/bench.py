"""`okno bench …`: measured numbers, printed and written under bench/, never asserted in tests."""

from __future__ import annotations

import click

from scripts.lazy import LazyGroup

BENCHES = {
    "pipeline": ("scripts.bench_pipeline:bench_pipeline", "End to end: accept → ticket → sent."),
    "classifier": ("scripts.model_cli:bench_classifier", "Our classifier against the reference."),
    "intake": (
        "scripts.bench_intake:bench_intake",
        "Web form, SMTP and end to end against their bare counterparts.",
    ),
    "outage": ("scripts.bench_outage:bench_outage", "A Redis kill -9 under load."),
    "email": (
        "scripts.bench_email:bench_email",
        "Our e-mail parser against the bare email package.",
    ),
    "queue": ("scripts.bench_queue:bench_queue", "The specialist queue and search, PostgreSQL."),
    "agent": ("scripts.bench_agent:bench_agent", "The workspace's queue page, render time."),
    "sla": (
        "scripts.bench_sla:bench_sla",
        "One SLA sweep tick over a million open tickets, PostgreSQL.",
    ),
    "startup": (
        "scripts.bench_startup:bench_startup",
        "`okno --help` and `okno email parse FILE` against importing the heavy libraries.",
    ),
    "analytics": (
        "scripts.bench_analytics:bench_analytics",
        "The analytics summary and its slices over a million tickets, PostgreSQL.",
    ),
}


@click.group(cls=LazyGroup, lazy=BENCHES)
def bench() -> None:
    """Benchmarks (results printed and written under bench/)."""
