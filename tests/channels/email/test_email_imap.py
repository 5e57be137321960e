"""The IMAP poller against a real Dovecot, a real SQLite state table and a real Redis lock."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from imapclient import IMAPClient
from redis import Redis
from sqlalchemy import Engine, select

from channels.email import external_id
from channels.email.imap_poller import ImapPoller
from channels.email.imap_state import MailboxLock, load_state
from channels.email.settings import ImapMailbox
from models.db import InboundMessage, make_engine, session_scope
from models.migrate import upgrade
from router.runtime import use_runtime
from scripts.email_cli import imap as imap_command
from tests.support.mail import HELPDESK, Dovecot, RecordingAccept, fixture_bytes, free_port

FIXTURE_NAMES = [
    "plain_cp1251.eml",
    "plain_koi8r.eml",
    "gmail_reply_en.eml",
    "no_message_id.eml",
    "outlook_reply_cp1251.eml",
]


@pytest.fixture
def box(dovecot: Dovecot) -> ImapMailbox:
    return ImapMailbox(
        host=dovecot.host,
        port=dovecot.port,
        user=dovecot.new_user(),
        password=dovecot.password,  # type: ignore[arg-type]
        address=HELPDESK,
    )


@pytest.fixture
def imap(box: ImapMailbox) -> Iterator[IMAPClient]:
    """The test's own IMAP session: it APPENDs mail and looks at flags and folders."""
    client = IMAPClient(box.host, port=box.port, ssl=False, timeout=10)
    client.login(box.user, box.password.get_secret_value())
    yield client
    client.logout()


def make_poller(
    box: ImapMailbox, accept: RecordingAccept, engine: Engine, redis: Redis, **kwargs: Any
) -> ImapPoller:
    kwargs.setdefault("max_bytes", 1_000_000)
    return ImapPoller(box, accept=accept, sessions=engine, redis=redis, timeout=10, **kwargs)


def append(imap: IMAPClient, names: list[str], folder: str = "INBOX") -> list[bytes]:
    raws = [fixture_bytes(name) for name in names]
    for raw in raws:
        imap.append(folder, raw)
    return raws


def test_fetches_flags_and_remembers(
    box: ImapMailbox,
    imap: IMAPClient,
    accept: RecordingAccept,
    state_engine: Engine,
    redis_client: Redis,
) -> None:
    raws = append(imap, FIXTURE_NAMES[:3])
    poller = make_poller(box, accept, state_engine, redis_client)
    try:
        assert poller.poll_once() == 3
        assert poller.poll_once() == 0
    finally:
        poller.disconnect()
    # The same key the SMTP path computes for the same mail to the same helpdesk address.
    assert accept.keys == [external_id(raw, HELPDESK) for raw in raws]
    assert all(stored == raw for (_, stored), raw in zip(accept.calls, raws, strict=True))
    message = accept.calls[0][0]
    assert message.meta["source"] == "imap" and message.meta["mailbox"] == HELPDESK
    assert message.subject == "Справка 2-НДФЛ для банка"
    imap.select_folder("INBOX")
    flags = imap.fetch(imap.search(), ["FLAGS"]).values()
    assert len(flags) == 3 and all(b"\\Seen" in f[b"FLAGS"] for f in flags)
    state = load_state(box.state_key, sessions=state_engine)
    assert state.last_uid == 3 and state.uidvalidity is not None


def test_restart_mid_mailbox_loses_and_repeats_nothing(
    box: ImapMailbox,
    imap: IMAPClient,
    accept: RecordingAccept,
    state_engine: Engine,
    redis_client: Redis,
) -> None:
    raws = append(imap, FIXTURE_NAMES)
    first = make_poller(box, accept, state_engine, redis_client)
    assert first.poll_once(limit=2) == 2
    first.disconnect()
    second = make_poller(box, accept, state_engine, redis_client)  # a fresh process, same DB
    try:
        assert second.poll_once() == 3
    finally:
        second.disconnect()
    assert accept.keys == [external_id(raw, HELPDESK) for raw in raws]


def test_uid_advances_only_after_accept_returned(
    box: ImapMailbox,
    imap: IMAPClient,
    accept: RecordingAccept,
    state_engine: Engine,
    redis_client: Redis,
) -> None:
    raws = append(imap, FIXTURE_NAMES[:3])
    poller = make_poller(box, accept, state_engine, redis_client)
    calls = 0
    original = accept.__call__

    def failing_second(message: Any, *, raw: bytes | None = None) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("database went away")
        return original(message, raw=raw)

    poller.accept = failing_second
    with pytest.raises(ConnectionError):
        poller.poll_once()
    assert load_state(box.state_key, sessions=state_engine).last_uid == 1
    poller.accept = accept
    try:
        assert poller.poll_once() == 2
    finally:
        poller.disconnect()
    assert accept.keys == [external_id(raw, HELPDESK) for raw in raws]


def test_move_after_storing(
    box: ImapMailbox,
    imap: IMAPClient,
    accept: RecordingAccept,
    state_engine: Engine,
    redis_client: Redis,
) -> None:
    box = box.model_copy(update={"after": "move", "move_to": "Okno-Processed"})
    append(imap, FIXTURE_NAMES[:2])
    poller = make_poller(box, accept, state_engine, redis_client)
    try:
        assert poller.poll_once() == 2
    finally:
        poller.disconnect()
    assert imap.select_folder("INBOX")[b"EXISTS"] == 0
    assert imap.select_folder("Okno-Processed")[b"EXISTS"] == 2
    assert len(accept.calls) == 2


def test_delete_after_storing(
    box: ImapMailbox,
    imap: IMAPClient,
    accept: RecordingAccept,
    state_engine: Engine,
    redis_client: Redis,
) -> None:
    box = box.model_copy(update={"after": "delete"})
    append(imap, FIXTURE_NAMES[:2])
    poller = make_poller(box, accept, state_engine, redis_client)
    try:
        assert poller.poll_once() == 2
    finally:
        poller.disconnect()
    assert imap.select_folder("INBOX")[b"EXISTS"] == 0


def test_uidvalidity_change_rescans_unprocessed_mail(
    dovecot: Dovecot,
    box: ImapMailbox,
    imap: IMAPClient,
    accept: RecordingAccept,
    state_engine: Engine,
    redis_client: Redis,
) -> None:
    append(imap, FIXTURE_NAMES[:2])
    poller = make_poller(box, accept, state_engine, redis_client)
    try:
        assert poller.poll_once() == 2
        old = load_state(box.state_key, sessions=state_engine).uidvalidity
        poller.disconnect()
        subprocess.run(
            [
                "doveadm",
                "-c",
                str(dovecot.conf),
                "mailbox",
                "update",
                "-u",
                box.user,
                "--uid-validity",
                str((old or 0) + 1000),
                "INBOX",
            ],
            check=True,
            capture_output=True,
        )
        [new_raw] = append(imap, FIXTURE_NAMES[2:3])
        assert poller.poll_once() == 1  # the new mail only: the two processed ones are \Seen
    finally:
        poller.disconnect()
    state = load_state(box.state_key, sessions=state_engine)
    assert state.uidvalidity == (old or 0) + 1000
    assert accept.keys[-1] == external_id(new_raw, HELPDESK) and len(accept.calls) == 3


def test_one_fetcher_per_mailbox(
    box: ImapMailbox,
    imap: IMAPClient,
    accept: RecordingAccept,
    state_engine: Engine,
    redis_client: Redis,
) -> None:
    append(imap, FIXTURE_NAMES[:2])
    other = MailboxLock(redis_client, box.state_key)
    assert other.acquire()
    poller = make_poller(box, accept, state_engine, redis_client)
    try:
        assert poller.poll_once() == 0 and accept.calls == []
        other.release()
        assert poller.poll_once() == 2
    finally:
        poller.disconnect()


def test_oversized_mail_keeps_headers_and_a_note(
    box: ImapMailbox,
    imap: IMAPClient,
    accept: RecordingAccept,
    state_engine: Engine,
    redis_client: Redis,
) -> None:
    [raw] = append(imap, ["attachments.eml"])
    poller = make_poller(box, accept, state_engine, redis_client, max_bytes=10_000)
    try:
        assert poller.poll_once() == 1
    finally:
        poller.disconnect()
    [(message, stored)] = accept.calls
    assert stored is not None and len(stored) < 2_000 and b"Subject:" in stored
    assert message.external_id == external_id(raw, HELPDESK)
    assert "body not fetched" in message.meta["notes"][0]


@pytest.mark.parametrize("after", ["delete", "move"])
def test_oversized_mail_is_flagged_not_deleted_or_moved(
    box: ImapMailbox,
    imap: IMAPClient,
    accept: RecordingAccept,
    state_engine: Engine,
    redis_client: Redis,
    after: str,
) -> None:
    """Only its headers were stored: the mailbox keeps the one whole copy."""
    box = box.model_copy(update={"after": after, "move_to": "Okno-Processed"})
    append(imap, ["attachments.eml", FIXTURE_NAMES[0]])
    poller = make_poller(box, accept, state_engine, redis_client, max_bytes=10_000)
    try:
        assert poller.poll_once() == 2
    finally:
        poller.disconnect()
    assert imap.select_folder("INBOX")[b"EXISTS"] == 1
    [(uid, data)] = imap.fetch(imap.search(["ALL"]), ["FLAGS"]).items()
    assert b"\\Seen" in data[b"FLAGS"] and b"\\Deleted" not in data[b"FLAGS"]
    big, small = (message for message, _ in accept.calls)
    assert "body not fetched" in big.meta["notes"][0]
    assert big.meta["notes"][1] == f"the whole message stays in INBOX (UID {uid}), flagged \\Seen"
    assert "notes" not in small.meta


def test_idle_picks_up_new_mail_quickly(
    box: ImapMailbox,
    imap: IMAPClient,
    accept: RecordingAccept,
    state_engine: Engine,
    redis_client: Redis,
) -> None:
    # A 60 s poll interval: only IDLE can deliver the second mail within the test's few seconds.
    poller = make_poller(box, accept, state_engine, redis_client, poll_seconds=60, idle_slice=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=poller.run_forever, args=(stop,), daemon=True)
    append(imap, FIXTURE_NAMES[:1])
    thread.start()
    try:
        assert _wait_for(lambda: len(accept.calls) == 1)
        time.sleep(0.5)  # let the poller enter IDLE
        append(imap, FIXTURE_NAMES[1:2])
        assert _wait_for(lambda: len(accept.calls) == 2)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def _wait_for(condition: Any, seconds: float = 8.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_okno_imap_once_stores_through_intake(
    dovecot: Dovecot,
    box: ImapMailbox,
    imap: IMAPClient,
    tmp_path: Path,
    redis_url: str,
    redis_client: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CLI wiring: settings from env, the real intake, the real database and queue."""
    raws = append(imap, FIXTURE_NAMES[:2])
    database_url = f"sqlite:///{tmp_path / 'okno.db'}"
    upgrade(database_url)
    mailbox = {
        "host": box.host,
        "port": box.port,
        "user": box.user,
        "password": dovecot.password,
        "address": HELPDESK,
    }
    monkeypatch.setenv("OKNO_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OKNO_DATABASE_URL", database_url)
    monkeypatch.setenv("OKNO_REDIS_URL", redis_url)
    monkeypatch.setenv("OKNO_IMAP_MAILBOXES", json.dumps([mailbox]))
    try:
        result = CliRunner().invoke(imap_command, ["--once"])
    finally:
        use_runtime(None)
    assert result.exit_code == 0, result.output
    assert f"{HELPDESK} (INBOX): 2 new" in result.output
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        rows = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        assert [r.external_id for r in rows] == [external_id(raw, HELPDESK) for raw in raws]
        assert all(r.channel == "email" and r.status == "queued" and r.raw for r in rows)
    engine.dispose()


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_login(
    dovecot: Dovecot,
    box: ImapMailbox,
    imap: IMAPClient,
    accept: RecordingAccept,
    state_engine: Engine,
    redis_client: Redis,
    mode: str,
) -> None:
    if dovecot.cert is None or dovecot.tls_port is None:
        pytest.skip("openssl is missing: no certificate for the TLS tests")
    port = dovecot.tls_port if mode == "ssl" else dovecot.port
    tls_box = box.model_copy(update={mode: True, "port": port, "ca_file": str(dovecot.cert)})
    append(imap, FIXTURE_NAMES[:1])
    poller = make_poller(tls_box, accept, state_engine, redis_client)
    try:
        assert poller.poll_once() == 1
        assert poller.client is not None and poller.client.socket().version() is not None
    finally:
        poller.disconnect()


class CountingStop(threading.Event):
    """A stop event that records the back-off waits and stops after a few of them."""

    def __init__(self, rounds: int) -> None:
        super().__init__()
        self.waits: list[float | None] = []
        self.rounds = rounds

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if len(self.waits) >= self.rounds:
            self.set()
        return self.is_set()


def test_reconnects_with_backoff_while_the_server_is_down(
    box: ImapMailbox,
    accept: RecordingAccept,
    state_engine: Engine,
    redis_client: Redis,
) -> None:
    down = box.model_copy(update={"port": free_port()})  # nothing listens there
    poller = make_poller(down, accept, state_engine, redis_client)
    stop = CountingStop(rounds=5)
    poller.run_forever(stop)
    assert stop.waits == [1.0, 2.0, 4.0, 8.0, 16.0] and accept.calls == []
