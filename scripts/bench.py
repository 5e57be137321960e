"""`okno bench …`: measured numbers, printed and written under bench/, never asserted in tests."""

from __future__ import annotations

import click

from scripts.bench_pipeline import bench_pipeline
from scripts.bench_sla import bench_sla


@click.group()
def bench() -> None:
    """Benchmarks (results printed and written under bench/)."""


bench.add_command(bench_pipeline)
bench.add_command(bench_sla)
