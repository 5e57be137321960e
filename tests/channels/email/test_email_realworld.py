"""Real-world mail (#21) and mail that costs too much or says nothing (#11 §2)."""

from __future__ import annotations

import struct
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from channels.email import minimal_message, parse_email
from channels.email.limits import MAX_CONTAINERS, MAX_PARTS
from channels.email.tnef import SIGNATURE
from models.db import InboundMessage, NotificationRow, Ticket
from models.types import ParseError
from router.intake import Intake
from router.runtime import Runtime
from scripts.bench_email import many_attachments, nested_mime
from tests.conftest import drain
from tests.support.mail import HELPDESK

PLAIN = b"From: Ivan <ivan@x.example>\r\nSubject: Printer\r\n\r\nThe printer is broken.\r\n"


# --- mail that costs too much ---------------------------------------------------------------


def test_two_thousand_nested_levels_keep_the_text_and_say_what_was_dropped() -> None:
    parsed = parse_email(nested_mime(2000))  # was RecursionError, retried four times
    assert parsed.text == "The printer is broken."
    assert any(f"more than {MAX_CONTAINERS}" in note for note in parsed.notes)


def test_five_thousand_attachments_are_cut_to_the_part_limit() -> None:
    parsed = parse_email(many_attachments(5000))
    assert parsed.text == "The printer is broken."
    assert len(parsed.attachments) < MAX_PARTS
    assert any(f"more than {MAX_PARTS}" in note for note in parsed.notes)


def test_a_mail_within_the_limits_loses_nothing() -> None:
    parsed = parse_email(many_attachments(40))
    assert len(parsed.attachments) == 40 and not parsed.notes


# --- junk before the headers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix",
    [
        b"---- Original email message ----\r\n",
        b"From MAILER-DAEMON Mon Mar  3 10:00:00 2025\r\n",
        b"\r\n",
        b"\r\n\r\n---------- Original message ----------\r\n",
    ],
)
def test_junk_before_the_header_block_is_skipped(prefix: bytes) -> None:
    parsed = parse_email(prefix + PLAIN)
    assert (parsed.from_email, parsed.subject) == ("ivan@x.example", "Printer")
    assert parsed.text == "The printer is broken."
    assert minimal_message(prefix + PLAIN, mailbox=None, source="smtp").sender_address == (
        "ivan@x.example"
    )


# --- encoded words that break the rules -----------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (b"=?us-ascii?Q?ABC / 123 / West / ABC?=", "ABC / 123 / West / ABC"),
        (b"=?utf-8?B?0J/RgNC40L3RgtC1?=\r\n =?utf-8?B?0YAg0YHQu9C+0LzQsNC9?=", "Принтер сломан"),
        (b"=?windows-1252?B?z/Do7fLl8A==?=", "Принтер"),  # cp1251 bytes, wrong label
        ("Принтер сломан".encode("koi8-r"), "Принтер сломан"),  # raw 8-bit koi8-r
        ("Принтер сломан".encode("cp1251"), "Принтер сломан"),  # raw 8-bit cp1251
        ("Drucker defekt, Büro 3".encode("latin-1"), "Drucker defekt, Büro 3"),
        ("Re: プリンタ故障".encode("iso-2022-jp"), "Re: プリンタ故障"),  # raw ISO-2022-JP
        ("Принтер".encode("iso-2022-jp"), "Принтер"),  # Cyrillic in JIS X 0208
        (b"=?utf-8?q?caf=E9?=", "café"),  # latin-1 bytes labelled UTF-8
        (b"=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "テスト"),
        (b"=?unknown-8bit?Q?=CF=F0=E8=ED=F2=E5=F0?=", "Принтер"),
        (b"=?windows-1251?Q?=CF=F0=E8?= =?koi8-r?Q?=CE=D4=C5=D2?=", "Принтер"),
    ],
)
def test_broken_encoded_words_are_read_as_a_person_would(subject: bytes, expected: str) -> None:
    raw = b"From: a@x.example\r\nSubject: " + subject + b"\r\n\r\nbody\r\n"
    assert parse_email(raw).subject == expected


def test_iso_2022_jp_body_is_decoded() -> None:
    raw = (
        b"From: a@x.example\r\nSubject: x\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n"
        + "すみません。".encode("iso-2022-jp")
    )
    assert parse_email(raw).text == "すみません。"


@pytest.mark.parametrize(
    "head",
    [
        b"From  : Ivan <ivan@x.example>\r\nSubject     : Printer\r\n",  # RFC 5322 obsolete form
        b"From: Ivan <ivan@x.example>\r\nquite X-Spam: 1\r\nSubject: Printer\r\n",  # stray line
    ],
)
def test_damaged_header_blocks_are_mended(head: bytes) -> None:
    parsed = parse_email(head + b"\r\nThe printer is broken.\r\n")
    assert (parsed.from_email, parsed.subject) == ("ivan@x.example", "Printer")
    assert parsed.text == "The printer is broken."


def test_bottom_posted_reply_keeps_the_new_text() -> None:
    body = b"On 04/02/2012 06:26 PM, Megan One wrote:\r\n> Hi\r\n\r\nThe printer works now.\r\n"
    raw = b"From: a@x.example\r\nSubject: Re: Printer\r\n\r\n" + body
    assert parse_email(raw).text == "The printer works now."


# --- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "address", "name"),
    [
        (b"MAILER-DAEMON (Mail Delivery System)", "mailer-daemon", "Mail Delivery System"),
        (b'"Petrov, Ivan" <ivan@x.example>', "ivan@x.example", "Petrov, Ivan"),
        (b'"O\'Brien, \\"Pat\\"" <pat@x.example>', "pat@x.example", 'O\'Brien, "Pat"'),
        (b"Big Bug bb@bug.example", "bb@bug.example", None),
    ],
)
def test_addresses_as_peers_read_them(value: bytes, address: str, name: str | None) -> None:
    parsed = parse_email(
        b"From: " + value + b"\r\nTo: undisclosed-recipients:;\r\nSubject: s\r\n\r\nx"
    )
    assert (parsed.from_email, parsed.from_display_name) == (address, name)


# --- which text is the body -----------------------------------------------------------------


def _alternative(plain: str, html: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@x.example", "s"
    msg.set_content(plain)
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def test_stub_plain_part_loses_to_the_html() -> None:
    html = (
        "<table><tr><td>Ticket</td><td>VPN</td></tr></table>"
        "<p>VPN error 809 since this morning,<br>please help.&nbsp;I work from home today "
        "and need the accounting system before the end of the day.</p>"
    )
    text = parse_email(_alternative("Your mail client cannot show this mail.", html)).text
    assert text.startswith("Ticket VPN\nVPN error 809 since this morning,\nplease help.")


def test_full_plain_part_wins() -> None:
    raw = _alternative("VPN error 809, please help.", "<p>VPN error 809, please help.</p>")
    assert parse_email(raw).text == "VPN error 809, please help."


def test_forwarded_rfc822_attachment_is_part_of_the_request() -> None:
    inner = EmailMessage()
    inner["From"], inner["Subject"] = "supplier@y.example", "Invoice 1577"
    inner.set_content("Please pay invoice 1577 by Friday.")
    outer = EmailMessage()
    outer["From"], outer["Subject"] = "a@x.example", "Fwd: Invoice 1577"
    outer.set_content("Accounting, please handle.")
    outer.add_attachment(inner)
    parsed = parse_email(outer.as_bytes())
    assert parsed.text.startswith("Accounting, please handle.")
    assert "Please pay invoice 1577 by Friday." in parsed.text
    assert [a.content_type for a in parsed.attachments] == ["message/rfc822"]


@pytest.mark.parametrize(
    "quote",
    [
        "Von: Hans Müller [mailto:h@x.example]\nGesendet: Montag, 3. März 2025 10:00\n"
        "An: Helpdesk\nBetreff: Drucker",
        "Am 03.03.2025 um 10:00 schrieb Hans Müller <h@x.example>:\n> Drucker",
        "-----Ursprüngliche Nachricht-----\nVon: Hans",
        "От: Иван\nОтправлено: 3 марта 2025 г. 10:00\nКому: Helpdesk",
        "From: John\nSent: Monday, March 3, 2025 10:00 AM\nTo: Helpdesk",
        "Le lun. 3 mars 2025 à 10:00, Jean <j@x.example> a écrit :\n> Imprimante",
        "El lun, 3 mar 2025 a las 10:00, Juan (<j@x.example>) escribió:\n> Impresora",
    ],
)
def test_quote_separators_in_three_languages(quote: str) -> None:
    body = f"Der Drucker ist kaputt.\n\nMit freundlichen Grüßen\nHans\n\n{quote}\nalt"
    raw = b"From: h@x.example\r\nSubject: Re: Drucker\r\nContent-Type: text/plain; charset=utf-8"
    parsed = parse_email(raw + b"\r\n\r\n" + body.encode())
    assert parsed.text == "Der Drucker ist kaputt."


def _tnef_attribute(level: int, attribute: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, attribute, len(data)) + data + struct.pack("<H", checksum)


def test_tnef_winmail_dat_body_and_files() -> None:
    tnef = struct.pack("<IH", SIGNATURE, 1)
    tnef += _tnef_attribute(1, 0x0002800C, b"The scanner on floor 3 is jammed.\0")
    tnef += _tnef_attribute(2, 0x00069002, b"\0" * 14)
    tnef += _tnef_attribute(2, 0x00018010, b"photo.jpg\0")
    tnef += _tnef_attribute(2, 0x0006800F, b"\xff\xd8jpeg")
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@x.example", "Scanner"
    msg.set_content("")
    msg.add_attachment(tnef, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    parsed = parse_email(msg.as_bytes())
    assert parsed.text == "The scanner on floor 3 is jammed."
    assert [(a.name, a.size) for a in parsed.attachments] == [("photo.jpg", 6)]


# --- automatic flags, with the rule that fired ----------------------------------------------


@pytest.mark.parametrize(
    ("headers", "rule"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        ("X-Autoreply: yes", "X-Autoreply"),
        ("X-Mail-Autoreply: yes", "X-Mail-Autoreply"),
        ("Precedence: bulk", None),
        ("Precedence: list\r\nList-Id: <staff.x.example>", None),
        ("Precedence: bulk\r\nReturn-Path: <>", "Precedence: bulk with a null Return-Path"),
        ("Content-Type: multipart/report; report-type=delivery-status; boundary=x", "DSN"),
    ],
)
def test_the_rule_that_fired_is_named(headers: str, rule: str | None) -> None:
    raw = f"{headers}\r\nFrom: a@x.example\r\nSubject: Printer\r\n\r\n--x\r\n\r\nHello\r\n--x--\r\n"
    parsed = parse_email(raw.encode())
    assert parsed.auto_submitted is (rule is not None)
    assert (parsed.auto_rule or "").startswith(rule or "")
    assert parsed.meta()["auto_rule"] == parsed.auto_rule


# --- empty and unparseable mail -------------------------------------------------------------


def test_mail_with_no_subject_and_no_body_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="empty mail"):
        parse_email(b"From: a@x.example\r\nSubject: \r\n\r\n \r\n")


def _through_worker(runtime: Runtime, raw: bytes) -> InboundMessage:
    message = minimal_message(raw, mailbox=HELPDESK, source="smtp")
    result = Intake(runtime)(message, raw=raw)
    drain(runtime)
    with runtime.sessions() as session:
        row = session.get(InboundMessage, result.message_id)
        assert row is not None
        return row


def test_empty_mail_is_kept_raw_and_rejected_without_ticket_or_acknowledgement(
    runtime: Runtime,
) -> None:
    raw = b"From: ivan@x.example\r\nMessage-ID: <empty@x.example>\r\nSubject:\r\n\r\n\r\n"
    row = _through_worker(runtime, raw)
    assert (row.status, row.raw, row.attempts) == ("rejected", raw, 1)
    assert "empty mail" in (row.error or "")
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 0
        assert session.scalar(select(func.count()).select_from(NotificationRow)) == 0


def test_deep_mail_becomes_a_ticket_at_once_with_a_note(runtime: Runtime) -> None:
    row = _through_worker(runtime, nested_mime(2000))
    assert (row.status, row.attempts) == ("processed", 1)
    with runtime.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert any("more than" in str(note) for note in ticket.notes)


@pytest.mark.parametrize(
    ("subject", "automatic"),
    [("I am away until Monday", True), ("Vacation request for March", False)],
)
def test_away_subject_counts_only_with_a_bulk_precedence(subject: str, automatic: bool) -> None:
    headers = "Precedence: junk\r\n" if automatic else ""
    raw = f"{headers}From: a@x.example\r\nSubject: {subject}\r\n\r\nHello\r\n".encode()
    assert parse_email(raw).auto_submitted is automatic


def test_html_only_mail_hides_what_the_reader_never_sees() -> None:
    html = (
        '<div style="display:none;max-height:0">Preview: your ticket digest</div>'
        '<div style="mso-hide:all"><span>spacer</span></div>'
        "<table><tr><td>Room&nbsp;214</td><td>monitor dark</td></tr></table>"
        "<p>Please replace it.<br><br><br><br>Olga</p>"
    )
    raw = b"From: a@x.example\r\nSubject: s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    assert (
        parse_email(raw + html.encode()).text == "Room 214 monitor dark\nPlease replace it.\n\nOlga"
    )
