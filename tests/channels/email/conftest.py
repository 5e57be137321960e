"""Fixtures of the e-mail channel tests: a recording `accept`, a real Dovecot, a SQLite state DB."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from models.db import Base, make_engine
from tests.support.mail import Dovecot, RecordingAccept, free_port


@pytest.fixture
def accept() -> RecordingAccept:
    return RecordingAccept()


@pytest.fixture
def state_engine(tmp_path: Path) -> Iterator[Engine]:
    """A real SQLite file database with our tables (ChannelState among them)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


# --- a throwaway Dovecot (see shared notes: dovecot-for-tests.md) -------------------------------

DOVECOT_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{tmp}/mail/%u
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid=vmail gid=vmail home={tmp}/mail/%u
}}
"""


def _dovecot_unavailable() -> str | None:
    if shutil.which("dovecot") is None or shutil.which("doveadm") is None:
        return "dovecot is not installed (run scripts/setup-system-deps.sh)"
    if os.geteuid() != 0:
        return "the throwaway dovecot needs root to switch to the vmail user"
    try:
        import pwd

        pwd.getpwnam("vmail")
    except KeyError:
        return "user vmail is missing (scripts/setup-system-deps.sh creates it)"
    return None


def _wait_listening(port: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    reason = _dovecot_unavailable()
    if reason:
        pytest.skip(reason)
    # Not under pytest's basetemp: that is 0700 and vmail must reach its maildirs.
    tmp = Path(tempfile.mkdtemp(prefix="okno-dovecot-"))
    tmp.chmod(0o755)
    for sub in ("run", "state", "mail"):
        (tmp / sub).mkdir()
    shutil.chown(tmp / "mail", "vmail", "vmail")
    port, tls_port, password = free_port(), free_port(), "secret"
    cert = _self_signed_cert(tmp)
    ssl = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{tmp / 'key.pem'}" if cert else "ssl = no"
    conf = tmp / "dovecot.conf"
    conf.write_text(
        DOVECOT_CONF.format(tmp=tmp, port=port, tls_port=tls_port, password=password, ssl=ssl)
    )
    # Output to a file, not a pipe: the daemon keeps its stdio open and a pipe never closes.
    with (tmp / "start.log").open("w") as out:
        started = subprocess.run(
            ["dovecot", "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            timeout=30,
        )
    if started.returncode != 0 or not _wait_listening(port):
        logs = "".join(
            (tmp / name).read_text()[-500:]
            for name in ("start.log", "dovecot.log")
            if (tmp / name).exists()
        )
        pytest.skip(f"dovecot did not start: {logs}")
    yield Dovecot("127.0.0.1", port, password, conf, tls_port if cert else None, cert)
    _stop_dovecot(tmp / "run" / "master.pid", conf)
    shutil.rmtree(tmp, ignore_errors=True)


def _self_signed_cert(tmp: Path) -> Path | None:
    """A certificate for 127.0.0.1 so STARTTLS and implicit TLS are tested too (needs openssl)."""
    if shutil.which("openssl") is None:
        return None
    cert = tmp / "cert.pem"
    made = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(tmp / "key.pem"),
            "-out",
            str(cert),
        ],
        capture_output=True,
        timeout=60,
    )
    return cert if made.returncode == 0 else None


def _stop_dovecot(pid_file: Path, conf: Path) -> None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        subprocess.run(["doveadm", "-c", str(conf), "stop"], capture_output=True, timeout=30)
        return
    os.kill(pid, signal.SIGTERM)  # the master we started; it takes its children down with it
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)


def _running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may never reap the daemon)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
