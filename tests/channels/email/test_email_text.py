"""Charsets, header decoding, HTML to text, quote and signature cutting, auto-reply signals."""

from __future__ import annotations

import base64

import pytest

from channels.email import parse_email
from channels.email.charsets import decode_bytes, decode_header_value
from channels.email.html import html_to_text
from channels.email.quotes import clean_body, unflow

RU = "Добрый день! Прошу восстановить доступ к почте после смены пароля."


@pytest.mark.parametrize("codec", ["cp1251", "koi8-r", "utf-8"])
@pytest.mark.parametrize("declared", [None, "", "unknown-8bit", "us-ascii", "bogus-charset"])
def test_undeclared_or_useless_labels_are_guessed(codec: str, declared: str | None) -> None:
    assert decode_bytes(RU.encode(codec), declared)[0] == RU


@pytest.mark.parametrize(
    ("codec", "declared"),
    [
        ("cp1251", "windows-1251"),
        ("koi8-r", "koi8-r"),
        ("iso8859-5", "iso-8859-5"),
        ("cp1251", "koi8-r"),  # mislabelled the other way round
        ("koi8-r", "windows-1251"),
        ("cp1251", "iso-8859-1"),  # Outlook Express' favourite
        ("cp1251", "utf-8"),  # invalid as declared
    ],
)
def test_declared_and_mislabelled_charsets(codec: str, declared: str) -> None:
    assert decode_bytes(RU.encode(codec), declared)[0] == RU


def test_real_latin1_stays_latin1() -> None:
    text = "Grüße aus München, die Rechnung für März fehlt noch."
    assert decode_bytes(text.encode("latin-1"), "iso-8859-1")[0] == text


def test_encoded_words_split_inside_a_character_are_joined() -> None:
    data = "Привет".encode()
    first, second = base64.b64encode(data[:5]).decode(), base64.b64encode(data[5:]).decode()
    raw = f"=?UTF-8?B?{first}?=\r\n =?UTF-8?B?{second}?= [OKNO-000123]"
    assert decode_header_value(raw) == "Привет [OKNO-000123]"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?windows-1251?Q?=CF=F0=E8=E2=E5=F2_=EC=E8=F0?=", "Привет мир"),
        ("Re: =?koi8-r?B?8NLJ18XU?=", "Re: Привет"),
        ("=?utf-8?B?0J/RgNC40LLQtdGC?=", "Привет"),  # missing padding is tolerated
        ("=?utf-8*ru?B?0J/RgNC40LLQtdGC?=", "Привет"),  # RFC 2231 language suffix
        ("=?x-unknown?B?0J/RgNC40LLQtdGC?=", "Привет"),  # unknown label: guessed
        ("=?utf-8?Q?broken_=D0=9F=D0=B0=D1?=", "broken Па\ufffd"),  # a cut character
        ("plain ascii", "plain ascii"),
    ],
)
def test_header_decoding(raw: str, expected: str) -> None:
    assert decode_header_value(raw) == expected


def test_eight_bit_header_bytes() -> None:
    raw = "Отпуск с 10 марта".encode("koi8-r").decode("ascii", "surrogateescape")
    assert decode_header_value(raw) == "Отпуск с 10 марта"


def test_html_to_text_keeps_structure_and_drops_style() -> None:
    html = (
        "<html><head><style>p{color:red}</style><title>x</title></head><body>"
        "<p>Line&nbsp;one</p><p>&nbsp;</p><div>Line <b>two</b></div>"
        "<table><tr><td>a</td><td>b</td></tr></table><script>alert(1)</script>"
        "<blockquote>quoted</blockquote><pre>  keep\n  spacing</pre></body></html>"
    )
    assert html_to_text(html) == "Line one\n\nLine two\na b\n> quoted\n  keep\n  spacing"


@pytest.mark.parametrize(
    "quote",
    [
        "-----Original Message-----\nFrom: Okno\nSent: today\n\nold text",
        "-----Исходное сообщение-----\nОт: Okno\nОтправлено: сегодня\n\nстарый текст",
        "От: Okno <helpdesk@ssc.example.com>\nОтправлено: 3 марта 2025 г. 10:00\nКому: Иван\n\nold",
        "On Mon, 3 Mar 2025 at 10:15, Okno <helpdesk@ssc.example.com> wrote:\n> old",
        "03.03.2025 10:15, Okno пишет:\n> old",
        "пн, 3 мар. 2025 г. в 10:15, Okno <helpdesk@ssc.example.com>:\n> old",
        "> old\n> older",
    ],
)
def test_reply_quotes_are_cut(quote: str) -> None:
    assert clean_body(f"Новый текст.\n\n{quote}", forward=False) == "Новый текст."


@pytest.mark.parametrize(
    "signature",
    [
        "-- \nИван Петров\nтел. 4410",
        "С уважением,\nИван Петров\nВедущий бухгалтер\nтел. +7 495 123-45-67",
        "Best regards,\nJohn Smith",
        "Отправлено с iPhone",
        "Sent from my Android phone",
    ],
)
def test_signatures_are_cut(signature: str) -> None:
    assert clean_body(f"Не работает VPN.\n\n{signature}", forward=False) == "Не работает VPN."


def test_sentences_that_look_like_markers_stay() -> None:
    text = "Как я написал:\nпринтер не работает.\nОтправлено с ошибкой письмо вчера."
    assert clean_body(text, forward=False) == text


def test_quote_only_message_is_kept_whole() -> None:
    text = "> just a quote"
    assert clean_body(text, forward=False) == text


def test_unflow() -> None:
    assert unflow("one \ntwo\n\n three", delsp=False) == "one two\n\nthree"
    assert unflow("pass word \nrest", delsp=True) == "pass wordrest"


def _mail(headers: str, body: str = "Hello") -> bytes:
    return (headers.strip() + "\r\nFrom: a@b.example\r\nSubject: x\r\n\r\n" + body).encode()


@pytest.mark.parametrize(
    ("headers", "auto"),
    [
        ("Auto-Submitted: auto-replied", True),
        ("Auto-Submitted: auto-generated; owner-email=x@y", True),
        ("Auto-Submitted: no", False),
        ("X-Autoreply: yes", True),
        ("X-Autorespond: Vacation", True),
        # A list or marketing header alone: a person may have written it (#21).
        ("Precedence: bulk", False),
        ("Precedence: junk", False),
        ("Precedence: list", False),
        ("Precedence: bulk\r\nReturn-Path: <>", True),
        ("Precedence: junk\r\nSender: noreply@b.example", False),  # From wins: a@b.example
        ("Precedence: auto_reply", True),
        ("Precedence: junk\r\nX-Subject-Note: x", False),
        ("X-Auto-Response-Suppress: All", False),  # alone: Outlook adds it to ordinary mail
        ("X-Auto-Response-Suppress: All\r\nReturn-Path: <>", True),
        ("X-Auto-Response-Suppress: OOF\r\nX-MS-Exchange-Inbox-Rules-Loop: a@b.example", True),
    ],
)
def test_auto_submitted_signals(headers: str, auto: bool) -> None:
    assert parse_email(_mail(headers)).auto_submitted is auto


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: VPN",
        "Автоматический ответ: Заявка",
        "Нет на месте",
        "Автоответ",
        "Вне офиса",
    ],
)
def test_auto_reply_subjects(subject: str) -> None:
    raw = f"From: a@b.example\r\nSubject: {subject}\r\nContent-Type: text/plain; charset=utf-8"
    parsed = parse_email((raw + "\r\n\r\nbody").encode())
    assert parsed.auto_submitted and not parsed.bounce


@pytest.mark.parametrize(
    ("sender", "subject"),
    [
        ("MAILER-DAEMON@mx.example.com", "whatever"),
        ("postmaster@corp.example.ru", "Delivery report"),
        ("Mail Delivery Subsystem <mailer-daemon@googlemail.com>", "x"),
        ("robot@corp.example.ru", "Undeliverable: [OKNO-000001] Status"),
        ("robot@corp.example.ru", "Недоставленное сообщение"),
    ],
)
def test_bounce_signals(sender: str, subject: str) -> None:
    raw = f"From: {sender}\r\nSubject: {subject}\r\nContent-Type: text/plain; charset=utf-8"
    parsed = parse_email((raw + "\r\n\r\nbody").encode())
    assert parsed.bounce and parsed.auto_submitted
