"""`okno bench startup`: how long the CLI takes to start, against importing its heavy libraries.

Issue 20's target: `okno --help` and `okno email parse FILE` start in at most 0.3 × the time a
bare `python -c "import fastapi, sqlalchemy, rq, sklearn"` takes. Each command runs as a fresh
process (what a script calling `okno` in a loop pays), the three interleaved round by round so a
change in the machine's load reaches all of them alike; the median of the rounds is reported.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parents[1]
MAIL = (
    ROOT
    / "tests"
    / "fixtures"
    / "email"
    / "corpus"
    / "mailgun-flanker"
    / "spam"
    / "broken-ctype.eml"
)
BASELINE = "import fastapi, sqlalchemy, rq, sklearn"
TARGET = 0.3


def commands(mail: Path) -> dict[str, list[str]]:
    """The measured commands: the CLI's own entry point, run as `okno` runs it."""
    script = Path(sys.executable).parent / "okno"  # the console script users run
    okno = [str(script)] if script.exists() else [sys.executable, "-m", "scripts.cli"]
    return {
        "help": [*okno, "--help"],
        "email_parse": [*okno, "email", "parse", str(mail)],
        "imports": [sys.executable, "-c", BASELINE],
    }


def _once(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise click.ClickException(f"{argv[2:]} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def measure(rounds: int, mail: Path) -> dict[str, Any]:
    argv = commands(mail)
    for cmd in argv.values():  # warm the file cache and the bytecode once
        _once(cmd)
    times: dict[str, list[float]] = {name: [] for name in argv}
    load_start = os.getloadavg()
    for _ in range(rounds):
        for name, cmd in argv.items():
            times[name].append(_once(cmd))
    median = {name: statistics.median(v) for name, v in times.items()}
    base = median["imports"]
    return {
        "rounds": rounds,
        "help_s": round(median["help"], 4),
        "email_parse_s": round(median["email_parse"], 4),
        "imports_s": round(base, 4),
        "help_ratio": round(median["help"] / base, 3),
        "email_parse_ratio": round(median["email_parse"] / base, 3),
        "load_start": [round(v, 2) for v in load_start],
        "load_end": [round(v, 2) for v in os.getloadavg()],
    }


def report(r: dict[str, Any]) -> str:
    def verdict(ratio: float) -> str:
        return "met" if ratio <= TARGET else "**not met**"

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"# okno bench startup — {when}",
            "",
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; load average at start {r['load_start']}, at end "
            f"{r['load_end']}",
            f"{r['rounds']} rounds, each command a fresh process, the three interleaved; "
            'medians. Baseline: `python -c "' + BASELINE + '"`.',
            "",
            "| command | median | ratio to the baseline | target |",
            "| --- | --- | --- | --- |",
            f"| `okno --help` | {r['help_s'] * 1000:.0f} ms | {r['help_ratio']:.2f} | "
            f"≤ {TARGET} ({verdict(r['help_ratio'])}) |",
            f"| `okno email parse FILE` | {r['email_parse_s'] * 1000:.0f} ms | "
            f"{r['email_parse_ratio']:.2f} | ≤ {TARGET} ({verdict(r['email_parse_ratio'])}) |",
            f"| baseline imports | {r['imports_s'] * 1000:.0f} ms | 1.00 | |",
            "",
            "```json",
            json.dumps(r),
            "```",
            "",
        ]
    )


@click.command()
@click.option("--rounds", default=10, show_default=True)
@click.option("--mail", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=MAIL)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=ROOT / "bench" / "startup.md"
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object last.")
def bench_startup(rounds: int, mail: Path, out: Path, as_json: bool) -> None:
    """`okno --help` and `okno email parse FILE` against importing the heavy libraries."""
    r = measure(rounds, mail)
    text = report(r)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(text.split("```json")[0].rstrip())
    if as_json:
        click.echo(json.dumps(r))
