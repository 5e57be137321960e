"""The idempotency key of a mail and the minimal message both inbound paths hand to intake.

The SMTP server and the IMAP poller must compute the same key for the same mail sent to the same
helpdesk mailbox, so both call `minimal_message` here and nothing else.
"""

from __future__ import annotations

import hashlib
import re

from channels.email.headers import (
    header_fields,
    header_text,
    normalize_message_id,
    raw_header,
    sender_of,
)
from channels.email.limits import skip_prefix
from models.types import Channel, IncomingMessage

MAX_KEY = 255  # IncomingMessage.external_id and the database column
# Fields the receiving side adds (MTA trace, spam filters, Exchange transport): the copy the
# IMAP server holds has them and the copy our SMTP server got may not, so the raw-bytes hash of
# a mail without Message-ID leaves them out to stay the same on both paths.
_TRACE = {
    "return-path",
    "received",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-from",
    "x-envelope-to",
    "received-spf",
    "authentication-results",
    "arc-seal",
    "arc-message-signature",
    "arc-authentication-results",
    "x-rcpt-to",
}
_TRACE_PREFIXES = ("x-spam-", "x-virus-", "x-ms-exchange-organization-", "x-ms-exchange-transport-")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD_NAME = re.compile(rb"^([!-9;-~]+):")


def _is_trace(line: bytes) -> bool:
    match = _FIELD_NAME.match(line)
    if not match:
        return False
    name = match.group(1).decode("ascii").lower()
    return name in _TRACE or name.startswith(_TRACE_PREFIXES)


def _without_trace(raw: bytes) -> bytes:
    """The raw mail with CRLF line ends and without trace fields (see _TRACE)."""
    match = _HEADER_END.search(raw)
    head, body = (raw[: match.start()], raw[match.end() :]) if match else (raw, b"")
    kept: list[bytes] = []
    skipping = False
    for line in _crlf(head).split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):  # a folded continuation belongs to the field above
            if not skipping:
                kept.append(line)
            continue
        skipping = _is_trace(line)
        if not skipping:
            kept.append(line)
    return b"\r\n".join(kept) + b"\r\n\r\n" + _crlf(body)


def _crlf(data: bytes) -> bytes:
    # Servers treat bare CR and bare LF differently when they store mail: make them all CRLF.
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def raw_hash(raw: bytes) -> str:
    return hashlib.sha256(_without_trace(raw)).hexdigest()


def external_id(raw: bytes, mailbox: str | None = None) -> str:
    """'mailbox|message-id' (normalised), or 'sha256:<hash>' for a mail without Message-ID."""
    headers = header_fields(header_block(raw))
    message_id = normalize_message_id(raw_header(headers, "Message-ID"))
    return key_for(message_id, mailbox, raw)


def header_block(raw: bytes) -> bytes:
    """The mail up to and including the blank line that ends its header block (after anything
    skip_prefix drops): what the key and the minimal message read, without the email parser
    splitting and decoding the whole body (megabytes of attachments) only to throw it away.

    The parser reads the same header fields from this as from the whole mail: the first
    newline followed by an (optionally CR-led) newline is an empty line to it as well, so its
    header block never ends later than here."""
    raw = skip_prefix(raw).raw
    match = _HEADER_END.search(raw)
    return raw[: match.end()] if match else raw


def key_for(message_id: str | None, mailbox: str | None, raw: bytes) -> str:
    if not message_id:
        return f"sha256:{raw_hash(raw)}"
    key = f"{mailbox.strip().lower()}|{message_id}" if mailbox else message_id
    if len(key) > MAX_KEY:  # absurdly long ids still need a stable key that fits the column
        key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return key


def minimal_message(
    raw: bytes, *, mailbox: str | None, source: str, envelope_from: str | None = None
) -> IncomingMessage:
    """What intake stores before parsing: key, sender, subject; the worker parses the rest."""
    headers = header_fields(header_block(raw))
    message_id = normalize_message_id(raw_header(headers, "Message-ID"))
    sender, name = sender_of(headers)
    meta: dict[str, object] = {"mailbox": mailbox, "source": source}
    if message_id:
        meta["message_id"] = f"<{message_id}>"
    return IncomingMessage(
        channel=Channel.email,
        external_id=key_for(message_id, mailbox, raw),
        sender_address=(sender[:320] if sender else _clean(envelope_from)),
        sender_name=name[:255] if name else None,
        subject=header_text(headers, "Subject")[:998] or None,
        text="",
        meta=meta,
    )


def _clean(address: str | None) -> str | None:
    address = (address or "").strip().strip("<>").lower()
    return address[:320] if "@" in address else None
