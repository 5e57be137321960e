"""The idempotency key: one key per (Message-ID, helpdesk mailbox), whichever path the mail took."""

from __future__ import annotations

import hashlib
import random
from email.utils import getaddresses
from pathlib import Path

import pytest

from channels.email import external_id, minimal_message
from channels.email.headers import (
    address_of,
    header_fields,
    normalize_message_id,
    parse_header_block,
)
from channels.email.keys import header_block
from channels.email.limits import skip_prefix
from tests.support.mail import FIXTURES, HELPDESK, fixture_bytes

MAIL = b"From: Ivan <ivan@branch.example.ru>\r\nSubject: VPN\r\n%b\r\nVPN does not connect.\r\n"


def mail(message_id_header: bytes = b"") -> bytes:
    return MAIL % message_id_header


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<ABC.123@Mail.Example.COM>", "abc.123@mail.example.com"),
        ("  <abc@x>  ", "abc@x"),
        ("<abc\r\n @x>", "abc@x"),
        ("abc@x", "abc@x"),
        ("<abc@x> (added by postmaster@x)", "abc@x"),
        ("", None),
        (None, None),
        ("<>", None),
    ],
)
def test_message_id_normalisation(value: str | None, expected: str | None) -> None:
    assert normalize_message_id(value) == expected


def test_key_is_mailbox_and_normalised_message_id() -> None:
    raw = mail(b"Message-ID: <CAKx8f=Q9Z@Mail.Gmail.com>\r\n")
    assert external_id(raw, "HelpDesk@SSC.example.com") == f"{HELPDESK}|cakx8f=q9z@mail.gmail.com"
    assert external_id(raw) == "cakx8f=q9z@mail.gmail.com"


def test_same_mail_to_two_mailboxes_gets_two_keys() -> None:
    raw = mail(b"Message-ID: <a@b>\r\n")
    assert external_id(raw, HELPDESK) != external_id(raw, "hr@ssc.example.com")


def test_no_message_id_hashes_the_raw_bytes() -> None:
    raw = fixture_bytes("no_message_id.eml")
    key = external_id(raw, HELPDESK)
    assert key.startswith("sha256:") and len(key) == len("sha256:") + 64
    assert key == external_id(raw, HELPDESK)
    assert key != external_id(raw.replace(b"2025", b"2026"), HELPDESK)


def test_hash_ignores_what_the_delivering_server_adds() -> None:
    """The IMAP copy carries trace fields and LF line ends the SMTP copy did not have."""
    raw = mail()
    delivered = (
        b"Return-Path: <ivan@branch.example.ru>\r\nDelivered-To: helpdesk@ssc.example.com\r\n"
        b"Received: from mx.example.com\r\n\tby imap.example.com; Mon, 3 Mar 2025 10:00 +0300\r\n"
        b"X-Spam-Status: No, score=-1.0\r\n" + raw
    ).replace(b"\r\n", b"\n")
    assert external_id(delivered, HELPDESK) == external_id(raw, HELPDESK)
    assert external_id(raw).startswith("sha256:")


def test_overlong_key_still_fits() -> None:
    raw = mail(b"Message-ID: <" + b"x" * 400 + b"@example.com>\r\n")
    key = external_id(raw, HELPDESK)
    expected = hashlib.sha256(f"{HELPDESK}|{'x' * 400}@example.com".encode()).hexdigest()
    assert key == f"sha256:{expected}"


def test_minimal_message_for_intake() -> None:
    raw = fixture_bytes("plain_cp1251.eml")
    message = minimal_message(raw, mailbox=HELPDESK, source="smtp", envelope_from="bounce@x.ru")
    assert message.channel == "email" and message.text == ""
    assert message.external_id == external_id(raw, HELPDESK)
    assert message.sender_address == "a.smirnova@branch.example.ru"
    assert message.subject == "Справка 2-НДФЛ для банка"
    assert message.meta == {
        "mailbox": HELPDESK,
        "source": "smtp",
        "message_id": "<1593212487.20250304110544@branch.example.ru>",
    }


def test_minimal_message_falls_back_to_the_envelope_sender() -> None:
    raw = b"Subject: no from\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n"
    message = minimal_message(
        raw, mailbox=HELPDESK, source="smtp", envelope_from="<Scan@Branch.ru>"
    )
    assert message.sender_address == "scan@branch.ru"


EMAILS = sorted(FIXTURES.rglob("*.eml"))


@pytest.mark.parametrize("path", EMAILS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_the_header_block_alone_reads_as_the_whole_mail(path: Path) -> None:
    """minimal_message parses only header_block(raw): the same fields, in the same order, as
    parsing the whole mail (the fixtures and the public corpus, CRLF and LF alike)."""
    for raw in (path.read_bytes(), path.read_bytes().replace(b"\r\n", b"\n")):
        whole = list(parse_header_block(skip_prefix(raw).raw).raw_items())
        assert list(parse_header_block(header_block(raw)).raw_items()) == whole
        assert list(header_fields(header_block(raw)).raw_items()) == whole


@pytest.mark.parametrize(
    "raw",
    [
        b"Subject: a\r\n\r\nFrom: b@c\r\n",
        b"Subject: a\n\nbody\n\nmore",
        b"Subject: a\r\n\r\n",
        b"Subject: only headers\r\nFrom: b@c",
        b"Subject: a\r\nnot a header line\r\nFrom: b@c\r\n\r\nbody",
        b"Subject: a\r\r\nFrom: b@c\r\n\r\nbody",
        b"From x@y Mon Mar  3 10:00:00 2025\nSubject: mbox\n\nbody\n",
        b"",
    ],
)
def test_header_block_edges(raw: bytes) -> None:
    whole = list(parse_header_block(skip_prefix(raw).raw).raw_items())
    assert list(parse_header_block(header_block(raw)).raw_items()) == whole
    assert list(header_fields(header_block(raw)).raw_items()) == whole
    assert list(header_fields(raw).raw_items()) == list(parse_header_block(raw).raw_items())


def test_header_fields_read_random_header_blocks_as_the_email_parser() -> None:
    """Lines of fields, continuations, mbox separators, nameless and broken lines, 8-bit bytes,
    CR, LF and CRLF in any mix: header_fields agrees with the email package on each."""
    rng = random.Random(20)
    pieces = [
        b"Subject: a",
        b"From: x@y",
        b"From x@y Mon",
        b"Message-ID: <a@b>",
        b" folded",
        b"\tmore",
        b":nameless",
        b"no colon here",
        b"X-8bit: \xd0\x9f\xd1\x80",
        b"Sub ject: x",
        b"A:",
        b"",
        b"  ",
        b"To:\t b@c ",
        b"\xff:",
        b"Return-Path: <>",
    ]
    ends = [b"\r\n", b"\n", b"\r", b"\r\r\n", b"\n\r"]
    for _ in range(3000):
        block = b"".join(
            rng.choice(pieces) + rng.choice(ends) for _ in range(rng.randint(0, 8))
        ) + rng.choice([b"", b"Tail: no newline", b"\r"])
        expected = list(parse_header_block(block).raw_items())
        assert list(header_fields(block).raw_items()) == expected, block


@pytest.mark.parametrize(
    "value",
    [
        "ivan@branch.example.ru",
        "Ivan.Petrov@Branch.Example.RU",
        "o'brien+tag@x-y.example.com",
        "a=b@example.com",
        "user1@corp.example.com",
    ],
)
def test_a_plain_address_reads_as_the_full_parse_reads_it(value: str) -> None:
    """address_of skips the RFC 5322 parse for a value that is only an address: the full parse
    hands such a value back unchanged."""
    assert getaddresses([value]) == [("", value)]
    assert address_of(value) == (value.lower(), None)
    assert address_of(f" {value}\r\n") == (value.lower(), None)


def test_what_only_looks_like_a_plain_address_takes_the_full_parse() -> None:
    assert address_of("=?utf-8?q?a?=@example.com") == address_of(" =?utf-8?q?a?=@example.com")
    assert address_of("a..b@example.com") == ("a..b@example.com", None)
    assert address_of("Ivan ivan@x.example.ru") == ("ivan@x.example.ru", None)
