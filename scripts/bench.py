"""`okno bench …`: measured numbers, printed and written under bench/, never asserted in tests."""

from __future__ import annotations

import click


@click.group()
def bench() -> None:
    """Benchmarks (results printed and written under bench/)."""
