"""`okno run`'s supervisor with real child processes; start-up refusals that touch nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from scripts.cli import main
from scripts.run_plan import child_env, plan
from scripts.supervisor import Child, Supervisor, backoff, lock_data_dir
from tests.conftest import ROOT

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_child_is_restarted_and_stop_ends_every_child() -> None:
    lines: list[str] = []
    poller = Child("IMAP poller", SLEEPER, lambda c: c.alive_for(0.3), "IMAP poller running")
    redis = Child("embedded Redis", SLEEPER, lambda c: True, "Redis", stop_last=True)
    supervisor = Supervisor([redis, poller], env=dict(os.environ), echo=lines.append)
    thread = threading.Thread(target=supervisor.run, kwargs={"poll": 0.05}, daemon=True)
    thread.start()
    wait_for(lambda: supervisor.up)
    first = poller.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: poller.pid not in (None, first))
    assert poller.restarts == 1
    assert any("IMAP poller exited (rc -9); restarting" in line for line in lines)
    wait_for(lambda: lines[-1] == f"  IMAP poller running (pid {poller.pid})")
    pids = [poller.pid, redis.pid]
    # Each child leads a process group of its own: Ctrl-C in a terminal signals only the
    # supervisor, which stops the workers before Redis (not everything at once).
    assert all(pid is not None and os.getpgid(pid) == pid for pid in pids)
    supervisor.stop.set()
    thread.join(timeout=30)
    for pid in pids:
        assert pid is not None
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # already reaped: it has exited


SUPERVISED_SLEEPER = f"""
import os, sys
from scripts.supervisor import Child, Supervisor
child = Child("sleeper", {SLEEPER!r}, lambda c: True, "sleeping")
supervisor = Supervisor([child], env=dict(os.environ), echo=lambda line: None)
supervisor.tick()
print(child.pid, flush=True)
supervisor.stop.wait()
"""


def test_children_die_with_a_killed_supervisor() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", SUPERVISED_SLEEPER], env=env, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()  # kill -9: the supervisor cannot stop anyone itself
    parent.wait()
    wait_for(lambda: not Path(f"/proc/{child}").exists() or "Z" in zombie_state(child))


def zombie_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_restart_backoff_grows_and_is_capped() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff(50) == 30.0


def test_second_okno_run_refuses_before_touching_anything(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    held = lock_data_dir(data_dir)  # what the first `okno run` holds while it runs
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKNO_")}
    env.update(PYTHONPATH=str(ROOT), OKNO_DATA_DIR=str(data_dir))
    try:
        second = subprocess.run(
            [sys.executable, "-m", "scripts.cli", "run", "--port", "0"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    finally:
        held.close()
    assert second.returncode == 1
    assert f"another `okno run` (pid {os.getpid()}) is using" in second.stderr
    assert sorted(p.name for p in data_dir.iterdir()) == ["okno.lock"]


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("OKNO_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OKNO_DATA_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("OKNO_SMS_GATEWAY_SECRET", "x" * 14, "OKNO_SMS_GATEWAY_SECRET: Value error, must be at"),
        ("OKNO_SMS_GATEWAY_URL", "https://sms.example.com/send", "without OKNO_SMS_GATEWAY_SECRET"),
        ("OKNO_PHONE_WEBHOOK_SECRET", "short", "OKNO_PHONE_WEBHOOK_SECRET"),
        ("OKNO_TELEGRAM_TOKEN", "not-a-token", "OKNO_TELEGRAM_TOKEN"),
    ],
)
@pytest.mark.parametrize("command", [["run"], ["api"], ["worker"]])
def test_bad_channel_setting_fails_start_up(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, why: str,
    command: list[str],
) -> None:  # fmt: skip
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2, result.output
    assert why in result.output
    assert not clean_env.exists()  # nothing was started or written


def test_run_port_reaches_the_children(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    from channels.email.settings import load_email_settings
    from channels.telegram.settings import load_telegram_settings
    from models.settings import load_settings
    from scripts.services import with_public_url

    monkeypatch.setenv("OKNO_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("OKNO_TELEGRAM_WEBHOOK_SECRET", "s3cret")
    settings = with_public_url(load_settings(), "127.0.0.1", 8123)
    children = plan(
        settings, load_email_settings(), load_telegram_settings(), None,  # type: ignore[arg-type]
        "127.0.0.1", 8123, 1,
    )  # fmt: skip
    names = [c.ready_line for c in children]
    assert "Telegram bot (webhook at http://127.0.0.1:8123/api/v1/intake/telegram)" in names
    assert not any("long polling" in n for n in names)
    # Workers (links in notifications) and the webhook registration read it from here.
    assert child_env(settings)["OKNO_PUBLIC_URL"] == "http://127.0.0.1:8123"
