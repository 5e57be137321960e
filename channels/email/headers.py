"""Reading header fields of real mail: raw values, decoded text, addresses, Message-IDs."""

from __future__ import annotations

import re
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


def raw_header(msg: Message, name: str) -> str | None:
    """The first value of a header as received (8-bit bytes surrogate-escaped), or None."""
    name = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def raw_headers(msg: Message, name: str) -> list[str]:
    name = name.lower()
    return [str(value) for key, value in msg.raw_items() if key.lower() == name]


def header_text(msg: Message, name: str) -> str:
    """A header decoded to text ('' when missing)."""
    return decode_header_value(raw_header(msg, name))


def has_header(msg: Message, name: str) -> bool:
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


def sender_of(msg: Message) -> tuple[str | None, str | None]:
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
