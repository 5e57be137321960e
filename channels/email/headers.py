"""Reading header fields of real mail: raw values, decoded text, addresses, Message-IDs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses

from channels.email.charsets import decode_header_value

_ANGLE_ID = re.compile(r"<([^<>]+)>")
# "Name <addr>" taken literally: real clients leave ':' or ',' unquoted in display names
# ("1C:Enterprise <robot@x>", "Petrov, Ivan <p@x>"), which RFC 5322 parsing splits apart.
_NOT_MAILBOX = re.compile(r"[\s:;,<>()]|^@|@$")
_BARE_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"]+@[^\s<>()\[\],;:\"@]+\.[^\s<>()\[\],;:\"@]+")
_SINGLE_MAILBOX = re.compile(r'^\s*"?([^<>"]*?)"?\s*<([^<>@\s]+@[^<>\s]+)>\s*$')
# A value that is nothing but a plain address ("ivan@x.example.ru"): dot-atoms on both sides, no
# encoded words, so address_of's full parse would hand it back unchanged, only slower.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/^_`{|}~=-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def parse_message(raw: bytes) -> Message:
    """The whole MIME tree; compat32 keeps raw header values so we decode them ourselves."""
    return BytesParser(policy=policy.compat32).parsebytes(raw)


def parse_header_block(raw: bytes) -> Message:
    """Only the header block: cheap enough for the SMTP handler's accept-fast path."""
    return BytesHeaderParser(policy=policy.compat32).parsebytes(raw)


# The email package's feed parser, its header half (email/feedparser.py): lines end at CRLF, CR
# or LF; the header block ends at the first line that is neither a field nor a continuation.
_LINE_END = re.compile(r"(\r\n|\r|\n)")
_HEADER_START = re.compile(r"From |[\041-\071\073-\176]*:|[\t ]")


class HeaderFields:
    """The header fields of a header block, as parse_header_block's Message holds them, for the
    readers below (raw_header, header_text, sender_of...)."""

    __slots__ = ("fields",)

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self.fields = fields

    def raw_items(self) -> Iterator[tuple[str, str]]:
        return iter(self.fields)


def header_fields(block: bytes) -> HeaderFields:
    """parse_header_block's fields (names, raw values, order) without building a Message:
    the SMTP handler reads three of them per mail. tests/channels/email/test_email_keys.py holds
    the two to the same answer on every fixture, the public corpus and random header blocks."""
    parts = _LINE_END.split(block.decode("ascii", "surrogateescape"))
    lines = [text + end for text, end in zip(parts[0::2], parts[1::2], strict=False)]
    if parts[-1]:
        lines.append(parts[-1])
    headers: list[str] = []
    for line in lines:
        if not _HEADER_START.match(line):
            break
        headers.append(line)
    fields: list[tuple[str, str]] = []
    field: list[str] = []
    for number, line in enumerate(headers):
        if line[0] in " \t":
            if field:  # a continuation before any field is dropped, as the parser does
                field.append(line)
            continue
        if field:
            fields.append(_field(field))
            field = []
        if line.startswith("From "):  # an mbox separator: skipped; last, it is the body's
            if number and number == len(headers) - 1:
                break
            continue
        if line.find(":") > 0:  # ":value" has no name: skipped
            field = [line]
    if field:
        fields.append(_field(field))
    return HeaderFields(fields)


def _field(lines: list[str]) -> tuple[str, str]:
    # compat32's header_source_parse
    name, value = lines[0].split(":", 1)
    value = value.lstrip(" \t") + "".join(lines[1:])
    return name, value.rstrip("\r\n")


Headers = Message | HeaderFields


def raw_header(msg: Headers, name: str) -> str | None:
    """The first value of a header as received (8-bit bytes surrogate-escaped), or None."""
    name = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def raw_headers(msg: Headers, name: str) -> list[str]:
    name = name.lower()
    return [str(value) for key, value in msg.raw_items() if key.lower() == name]


def header_text(msg: Headers, name: str) -> str:
    """A header decoded to text ('' when missing)."""
    return decode_header_value(raw_header(msg, name))


def has_header(msg: Headers, name: str) -> bool:
    return raw_header(msg, name) is not None


def address_of(value: str | None) -> tuple[str | None, str | None]:
    """(address lowercased, display name decoded) of the first mailbox in an address header."""
    if not value:
        return None, None
    # Split the raw value first: a decoded display name may contain commas or angle brackets.
    unfolded = " ".join(value.split())
    if _PLAIN_ADDRESS.fullmatch(unfolded) and "=?" not in unfolded:
        return unfolded.lower(), None
    single = _SINGLE_MAILBOX.match(unfolded)
    pairs = [single.groups()] if single else getaddresses([unfolded])
    decoded = [(decode_header_value(a).strip(), n) for n, a in pairs]
    # Peers keep an address without a domain ("MAILER-DAEMON (Mail Delivery System)").
    for address, name in [p for p in decoded if "@" in p[0]] or decoded:
        if address and not _NOT_MAILBOX.search(address):
            return address.lower(), _display(name)
    # "Big Bug bb@bug.com", "a@x b@x": no brackets, but a person reads the address in it.
    bare = _BARE_ADDRESS.search(decode_header_value(unfolded))
    return (bare.group(0).lower(), None) if bare else (None, None)


def _display(name: str) -> str | None:
    text = decode_header_value(name).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].replace('\\"', '"').strip()
    return text or None


def sender_of(msg: Headers) -> tuple[str | None, str | None]:
    """Who wrote the mail: From, then Sender, then the envelope's Return-Path."""
    for name in ("From", "Sender", "Return-Path"):
        address, display = address_of(raw_header(msg, name))
        if address:
            return address, display
    return None, None


def normalize_message_id(value: str | None) -> str | None:
    """A Message-ID without <>, whitespace or case, as the idempotency key uses it."""
    if not value:
        return None
    text = decode_header_value(value)
    match = _ANGLE_ID.search(text)
    ident = match.group(1) if match else text
    ident = "".join(ident.split()).strip("<>").lower()
    return ident or None


def message_id_list(value: str | None) -> list[str]:
    """All Message-IDs in a References/In-Reply-To value, as '<id>' lowercased."""
    if not value:
        return []
    text = decode_header_value(value)
    found = ["".join(m.split()).lower() for m in _ANGLE_ID.findall(text)]
    if not found and text.strip() and " " not in text.strip():
        found = [text.strip().strip("<>").lower()]
    return [f"<{ident}>" for ident in dict.fromkeys(found) if ident]


def bracketed(ident: str | None) -> str | None:
    """'<id>' for a bare or bracketed Message-ID."""
    if not ident:
        return None
    ident = ident.strip().strip("<>")
    return f"<{ident}>" if ident else None
