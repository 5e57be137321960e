"""Our aiosmtpd server on a loopback port, driven by smtplib and by swaks."""

from __future__ import annotations

import asyncio
import random
import shutil
import smtplib
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP

from channels.email import external_id
from channels.email.settings import EmailSettings
from channels.email.smtp_server import (
    _PLAIN_ANGLE_ADDR,
    IntakeController,
    _SizeClearSMTP,
    make_controller,
)
from models.types import AcceptResult, IncomingMessage
from tests.support.mail import FIXTURES, HELPDESK, RecordingAccept, fixture_bytes, free_port

MAX_BYTES = 50_000


@pytest.fixture
def server(accept: RecordingAccept) -> Iterator[IntakeController]:
    settings = EmailSettings(
        email_addresses=f"{HELPDESK}, HR@ssc.example.com",
        email_domains="it.ssc.example.com",
        smtp_max_bytes=MAX_BYTES,
    )
    controller = make_controller(accept, settings, host="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()
    controller.handler.close()


def send(server: IntakeController, raw: bytes, to: list[str], sender: str = "ivan@x.ru") -> dict:
    with smtplib.SMTP(server.hostname, server.port, timeout=10) as client:
        return client.sendmail(sender, to, raw)


def test_stores_raw_bytes_and_a_minimal_message(
    server: IntakeController, accept: RecordingAccept
) -> None:
    raw = fixture_bytes("plain_cp1251.eml")
    assert send(server, raw, [HELPDESK]) == {}
    [(message, stored)] = accept.calls
    assert stored is not None and stored.rstrip(b"\r\n") == raw.rstrip(b"\r\n")
    assert message.external_id == external_id(raw, HELPDESK)
    assert message.sender_address == "a.smirnova@branch.example.ru"
    assert message.subject == "Справка 2-НДФЛ для банка" and message.text == ""
    assert message.meta == {
        "mailbox": HELPDESK,
        "source": "smtp",
        "message_id": "<1593212487.20250304110544@branch.example.ru>",
    }


def test_rejects_other_recipients_at_rcpt(
    server: IntakeController, accept: RecordingAccept
) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(server, fixture_bytes("plain_koi8r.eml"), ["someone@elsewhere.example.com"])
    code, _ = refused.value.recipients["someone@elsewhere.example.com"]
    assert code == 550 and accept.calls == []


def test_mixed_recipients_store_one_message_per_helpdesk_mailbox(
    server: IntakeController, accept: RecordingAccept
) -> None:
    raw = fixture_bytes("plain_koi8r.eml")
    refused = send(
        server, raw, ["hr@ssc.example.com", "stranger@example.org", "Ops@IT.ssc.example.com"]
    )
    assert set(refused) == {"stranger@example.org"}
    assert sorted(m.meta["mailbox"] for m, _ in accept.calls) == [
        "hr@ssc.example.com",
        "ops@it.ssc.example.com",
    ]


def test_oversize_is_552_with_the_limit(server: IntakeController, accept: RecordingAccept) -> None:
    raw = fixture_bytes("plain_koi8r.eml") + (b"x" * 70 + b"\r\n") * (MAX_BYTES // 70)
    # smtplib announces SIZE, so the server refuses at MAIL FROM already.
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        send(server, raw, [HELPDESK])
    assert refused.value.smtp_code == 552
    # Without SIZE the data is read and refused after the final dot, naming the limit.
    with smtplib.SMTP(server.hostname, server.port, timeout=10) as client:
        client.ehlo()
        client.mail("ivan@x.ru")
        client.rcpt(HELPDESK)
        code, text = client.data(raw)
    assert code == 552 and str(MAX_BYTES).encode() in text
    assert accept.calls == []


def test_451_when_accept_fails_then_stored_on_retry(
    server: IntakeController, accept: RecordingAccept
) -> None:
    raw = fixture_bytes("gmail_reply_en.eml")
    accept.fail = ConnectionError("database is down")
    with pytest.raises(smtplib.SMTPDataError) as failed:
        send(server, raw, [HELPDESK])
    assert failed.value.smtp_code == 451 and accept.calls == []
    accept.fail = None
    assert send(server, raw, [HELPDESK]) == {}
    assert len(accept.calls) == 1


def test_same_mail_twice_has_the_same_key(
    server: IntakeController, accept: RecordingAccept
) -> None:
    raw = fixture_bytes("no_message_id.eml")
    send(server, raw, [HELPDESK])
    send(server, raw, [HELPDESK], sender="other-envelope@x.ru")
    first, second = accept.keys
    assert first == second == external_id(raw, HELPDESK)
    assert accept.stored == {first}


SWAKS = shutil.which("swaks")
needs_swaks = pytest.mark.skipif(
    SWAKS is None, reason="swaks is not installed (run scripts/setup-system-deps.sh)"
)


def swaks(server: IntakeController, *args: str) -> subprocess.CompletedProcess[str]:
    assert SWAKS is not None
    command = [SWAKS, "--server", server.hostname, "--port", str(server.port), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


@needs_swaks
def test_swaks_delivers_a_fixture(server: IntakeController, accept: RecordingAccept) -> None:
    path: Path = FIXTURES / "outlook_reply_cp1251.eml"
    done = swaks(
        server, "--to", HELPDESK, "--from", "ivan.petrov@branch.example.ru", "--data", f"@{path}"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [(message, _)] = accept.calls
    assert message.external_id == external_id(path.read_bytes(), HELPDESK)
    assert message.subject == "RE: [OKNO-000123] Ваше обращение зарегистрировано"


@needs_swaks
def test_swaks_rejected_recipient_and_oversize(
    server: IntakeController, accept: RecordingAccept
) -> None:
    done = swaks(server, "--to", "nobody@example.org", "--from", "a@b.ru")
    assert done.returncode != 0 and "550" in done.stdout
    big = ("x" * 70 + "\\n") * (MAX_BYTES // 70 + 10)  # swaks: backslash-n is a line break
    done = swaks(server, "--to", HELPDESK, "--from", "a@b.ru", "--body", big)
    assert done.returncode != 0 and "552" in done.stdout
    assert accept.calls == []


class GroupAccept(RecordingAccept):
    """An intake with group commit: the first store waits until `total` mails have arrived."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total
        self.groups: list[int] = []
        self.handler: Any = None

    def accept_many(self, items: list[tuple[IncomingMessage, bytes | None]]) -> list[AcceptResult]:
        if not self.groups:
            deadline = time.monotonic() + 30
            while (
                len(items) + len(self.handler.group.pending) < self.total
                and time.monotonic() < deadline
            ):
                time.sleep(0.01)
        self.groups.append(len(items))
        if self.fail is not None:
            raise self.fail
        return [self(message, raw=raw) for message, raw in items]


def _group_server(accept: GroupAccept) -> IntakeController:
    settings = EmailSettings(email_addresses=HELPDESK)
    controller = make_controller(accept, settings, host="127.0.0.1", port=free_port())
    accept.handler = controller.handler
    controller.start()
    return controller


def _send_all(controller: IntakeController, count: int) -> list[object]:
    def one(i: int) -> object:
        raw = b"Subject: group %d\r\nMessage-ID: <g%d@x.ru>\r\n\r\nbody\r\n" % (i, i)
        try:
            return send(controller, raw, [HELPDESK])
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_concurrent_mails_are_stored_together_each_250_after_its_commit() -> None:
    accept = GroupAccept(total=5)
    controller = _group_server(accept)
    try:
        answers = _send_all(controller, 5)
    finally:
        controller.stop()
        controller.handler.close()
    assert answers == [{}] * 5  # every session got its 250
    # what arrived while the first store ran (or was on its way) went in one second store
    assert 1 <= len(accept.groups) <= 2 and sum(accept.groups) == 5 and len(accept.stored) == 5


def test_a_failed_group_store_is_451_for_every_mail_in_it() -> None:
    accept = GroupAccept(total=4)
    accept.fail = ConnectionError("database is down")
    controller = _group_server(accept)
    try:
        answers = _send_all(controller, 4)
    finally:
        controller.stop()
        controller.handler.close()
    assert answers == [451] * 4 and accept.stored == set()
    assert sum(accept.groups) == 4


def test_a_store_waits_for_a_session_inside_its_mail_transaction() -> None:
    accept = GroupAccept(total=0)
    controller = _group_server(accept)
    controller.handler.group.linger = 10.0  # the wait ends when the expected mail arrives
    try:
        with smtplib.SMTP(controller.hostname, controller.port, timeout=10) as first:
            first.ehlo()
            first.mail("a@x.ru")
            first.rcpt(HELPDESK)  # inside its transaction: its mail is on the way
            with ThreadPoolExecutor(1) as pool:
                raw = b"Subject: second\r\nMessage-ID: <second@x.ru>\r\n\r\nbody\r\n"
                second = pool.submit(send, controller, raw, [HELPDESK])
                deadline = time.monotonic() + 10
                while not controller.handler.group.pending and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(0.2)
                assert not second.done()  # held for the mail of the open transaction
                code, _ = first.data(b"Subject: first\r\nMessage-ID: <first@x.ru>\r\n\r\nbody\r\n")
                assert code == 250
                assert second.result(timeout=10) == {}
    finally:
        controller.stop()
        controller.handler.close()
    assert accept.groups == [2] and len(accept.stored) == 2


def test_a_lone_mail_is_not_held_back() -> None:
    accept = GroupAccept(total=0)
    controller = _group_server(accept)
    controller.handler.group.linger = 10.0
    try:
        with smtplib.SMTP(controller.hostname, controller.port, timeout=10) as idle:
            idle.ehlo()  # connected, but no mail transaction: nothing to wait for
            started = time.monotonic()
            assert send(controller, b"Subject: lone\r\n\r\nbody\r\n", [HELPDESK]) == {}
            assert time.monotonic() - started < 5
    finally:
        controller.stop()
        controller.handler.close()
    assert accept.groups == [1]


@pytest.mark.parametrize("protocol_log", [False, True])
def test_aiosmtpd_protocol_chatter_is_off_unless_asked(
    accept: RecordingAccept, caplog: pytest.LogCaptureFixture, protocol_log: bool
) -> None:
    """By default a session logs Okno's one "stored" line, not aiosmtpd's line per command
    (with the sender and recipients); OKNO_SMTP_PROTOCOL_LOG=true brings those back."""
    settings = EmailSettings(email_addresses=HELPDESK, smtp_protocol_log=protocol_log)
    controller = make_controller(accept, settings, host="127.0.0.1", port=free_port())
    controller.start()
    try:
        with caplog.at_level("INFO"):
            assert send(controller, fixture_bytes("plain_cp1251.eml"), [HELPDESK]) == {}
            time.sleep(0.2)  # the session's last lines (QUIT, connection lost)
    finally:
        controller.stop()
        controller.handler.close()
    chatter = [r for r in caplog.records if r.name == "mail.log" and r.levelno < 30]
    stored = [r for r in caplog.records if r.getMessage().startswith("stored mail from")]
    assert len(stored) == 1
    assert bool(chatter) is protocol_log, [r.getMessage() for r in chatter]


def _both_getaddr(arg: str, local_part_limit: int = 0) -> tuple[Any, Any]:
    ours = _SizeClearSMTP(RecordingAccept(), loop=asyncio.new_event_loop())
    stock = SMTP(RecordingAccept(), loop=ours.loop)
    ours.local_part_limit = stock.local_part_limit = local_part_limit
    try:
        return ours._getaddr(arg), stock._getaddr(arg)
    finally:
        ours.loop.close()


@pytest.mark.parametrize(
    "arg",
    [
        "<ivan@branch.example.ru>",
        "<Ivan.Petrov@Branch.Example.RU> SIZE=1234 BODY=8BITMIME",
        "<a@b.c>  SIZE=12 ",
        "<a@b.c>\tBODY=7BIT",
        "<a@b.c>(comment) SIZE=1",
        "<a@b.c> ",
        "<a@b.c>>",
        "<a@b.c>x",
        "<>",
        "< a@b.c >",
        "<a..b@c>",
        "<.a@b>",
        "<a@b..c>",
        "<a@b.c.>",
        '<"quoted local"@b.c>',
        "<@relay.example:a@b.c>",
        "<a@[10.0.0.1]>",
        "<=?utf-8?q?x?=@b.c>",
        "<a@=?utf-8?q?b?=>",
        "<иван@пример.рф>",
        "a@b.c SIZE=1",
        " <a@b.c>",
        "<a@b.c",
        "<a+tag/x=y?z@b-c.d> SMTPUTF8",
    ],
)
def test_plain_address_parse_answers_as_aiosmtpd(arg: str) -> None:
    ours, stock = _both_getaddr(arg)
    assert ours == stock
    assert _both_getaddr(arg, local_part_limit=3)[0] == _both_getaddr(arg, local_part_limit=3)[1]


def test_plain_address_parse_agrees_on_random_arguments() -> None:
    """MAIL FROM / RCPT TO arguments, mostly of the plain shape the fast path takes, now and then
    with a dot too many, a special, a space, a tab, a comment, an encoded-word start or a
    non-ASCII letter: our _getaddr gives aiosmtpd's answer on each, and the fast path is taken
    for a good share of them (else this would test only the fallback)."""
    rng = random.Random(7)
    atext = ["a", "Z9", "x_y", "!#$%&'*+/=?^_`{|}~-", "q="]
    odd = [".", "..", "@", "<", ">", " ", "\t", "(c)", "=?", '"q"', "[1.2.3.4]", "\\", ",", ";",
           ":", "и", "\r", "é", ""]  # fmt: skip
    tails = ["", " SIZE=5", "  BODY=8BITMIME ", "\tX", "(c) SIZE=1", ">", "x", " ", " (", "\r\n"]

    def part() -> str:
        words = [rng.choice(atext) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            words.insert(rng.randint(0, len(words)), rng.choice(odd))
        return ".".join(words) if rng.random() < 0.8 else "".join(words)

    loop = asyncio.new_event_loop()
    ours, stock = _SizeClearSMTP(RecordingAccept(), loop=loop), SMTP(RecordingAccept(), loop=loop)
    fast = 0
    try:
        for _ in range(5000):
            start, end = rng.choice(["<"] * 8 + ["", " <"]), rng.choice([">"] * 8 + [""])
            arg = start + part() + "@" + part() + end + rng.choice(tails)
            ours.local_part_limit = stock.local_part_limit = rng.choice([0, 0, 0, 3])
            assert ours._getaddr(arg) == stock._getaddr(arg), arg
            fast += _PLAIN_ANGLE_ADDR.fullmatch(arg) is not None
    finally:
        loop.close()
    assert 1000 < fast < 4000, fast
