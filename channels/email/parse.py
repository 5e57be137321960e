"""Parsing a stored raw mail into the normalised message the worker routes."""

from __future__ import annotations

import email.errors
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

from channels.email import flags
from channels.email.attachments import MB, AttachmentBudget
from channels.email.charsets import decode_bytes
from channels.email.headers import (
    header_text,
    message_id_list,
    normalize_message_id,
    parse_message,
    raw_header,
    raw_headers,
    sender_of,
)
from channels.email.keys import key_for
from channels.email.limits import bound, repair_header_block, skip_prefix
from channels.email.mime import BodyWalker
from channels.email.quotes import clean_body, has_forward_marker
from models.language import detect_language
from models.types import Attachment, Channel, IncomingMessage, ParseError

_FORWARD_SUBJECT = re.compile(r"^\s*(fwd?|fw|пересл|переслано|перес)\s*:", re.IGNORECASE)
_REPLY_SUBJECT = re.compile(r"^\s*(re|ответ|отв|aw|sv)\s*(\[\d+\])?\s*:", re.IGNORECASE)
_OUR_MESSAGE_ID = re.compile(r"<okno-(\d{6,})\.", re.IGNORECASE)


@dataclass
class ParsedEmail:
    """A mail as Okno understands it; `to_incoming` makes the message intake's worker routes."""

    from_email: str | None
    from_display_name: str | None
    subject: str
    text: str
    language: str
    message_id: str | None
    date: datetime | None
    mailbox: str | None
    attachments: list[Attachment] = field(default_factory=list)
    auto_submitted: bool = False
    auto_rule: str | None = None
    bounce: bool = False
    bounced_message_ids: list[str] = field(default_factory=list)
    bounced_recipients: list[str] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    ticket_ref: str | None = None
    notes: list[str] = field(default_factory=list)
    # Who else the mail went to: a reply from one of them continues the thread (router/threading).
    cc: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        return {
            "auto_submitted": self.auto_submitted,
            "auto_rule": self.auto_rule,
            "bounce": self.bounce,
            "bounced_message_ids": list(self.bounced_message_ids),
            "bounced_recipients": list(self.bounced_recipients),
            "mailbox": self.mailbox,
            "message_id": self.message_id,
            "notes": list(self.notes),
            "cc": list(self.cc),
        }

    def to_incoming(self, external_id: str) -> IncomingMessage:
        return IncomingMessage(
            channel=Channel.email,
            external_id=external_id,
            sender_address=self.from_email[:320] if self.from_email else None,
            sender_name=self.from_display_name[:255] if self.from_display_name else None,
            subject=self.subject[:998] or None,
            text=self.text,
            attachments=list(self.attachments),
            ticket_ref=self.ticket_ref,
            in_reply_to=self.in_reply_to,
            references=list(self.references),
            language=self.language,
            meta=self.meta(),
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (what `okno email parse` prints)."""
        data = asdict(self)
        data["date"] = self.date.isoformat() if self.date else None
        data["attachments"] = [a.model_dump(exclude_none=True) for a in self.attachments]
        return data


def parse_email(
    raw: bytes,
    *,
    mailbox: str | None = None,
    attachments_dir: Path | None = None,
    max_attachment_bytes: int = 10 * MB,
    max_total_attachment_bytes: int = 20 * MB,
) -> ParsedEmail:
    """Parse raw RFC 5322 bytes; input that is not a mail at all raises ParseError."""
    if not isinstance(raw, bytes | bytearray) or not raw.strip():
        raise ParseError("empty message")
    prefix = skip_prefix(bytes(raw))
    repaired = repair_header_block(prefix.raw)
    bounded = bound(repaired.raw)
    try:
        msg = parse_message(bounded.raw)
    except (email.errors.MessageError, ValueError, LookupError, RecursionError) as exc:
        raise ParseError(f"unparseable MIME: {type(exc).__name__}: {exc}") from exc
    if not msg.keys():
        raise ParseError("no header fields: not an RFC 5322 message")
    budget = AttachmentBudget(attachments_dir, max_attachment_bytes, max_total_attachment_bytes)
    try:
        parsed = _build(msg, mailbox=mailbox, budget=budget)
    except (email.errors.MessageError, LookupError, ValueError, RecursionError) as exc:
        raise ParseError(f"cannot read message: {type(exc).__name__}: {exc}") from exc
    if not parsed.text and (dropped := bounded.dropped_text()):
        parsed.text = decode_bytes(dropped)[0].replace("\r\n", "\n")
    if _is_empty(parsed):
        raise ParseError("empty mail: no subject, no text and no attachment")
    parsed.notes[:0] = [*prefix.notes, *repaired.notes, *bounded.notes]
    return parsed


def _build(msg: Message, *, mailbox: str | None, budget: AttachmentBudget) -> ParsedEmail:
    subject = header_text(msg, "Subject")
    sender, name = sender_of(msg)
    walker = BodyWalker(budget)
    body = walker.body(msg)
    bounce_rule = flags.bounce_rule(msg, sender, name, subject)
    bounce = bounce_rule is not None
    forward = bool(_FORWARD_SUBJECT.match(subject)) or (
        not _REPLY_SUBJECT.match(subject) and has_forward_marker(body)
    )
    text = body if bounce else clean_body(body, forward=forward)
    parsed = ParsedEmail(
        from_email=sender,
        from_display_name=name,
        subject=subject,
        text=text,
        language=detect_language(f"{subject}\n{text}"),
        message_id=_bracketed_id(msg),
        date=_date(msg),
        mailbox=mailbox,
        attachments=budget.attachments,
        auto_rule=bounce_rule or flags.auto_rule(msg, sender, subject),
        bounce=bounce,
        in_reply_to=next(iter(message_id_list(raw_header(msg, "In-Reply-To"))), None),
        references=message_id_list(raw_header(msg, "References")),
        notes=[*walker.notes, *budget.notes],
        cc=_copied(msg),
    )
    parsed.auto_submitted = parsed.auto_rule is not None
    parsed.ticket_ref = _ticket_ref(msg, parsed)
    if bounce:
        _add_bounce_info(msg, parsed, body)
    return parsed


def _copied(msg: Message) -> list[str]:
    """The Cc addresses, lower-cased; a malformed header gives what can be read of it."""
    values = [
        v.encode("utf-8", "surrogateescape").decode("ascii", "ignore")
        for v in raw_headers(msg, "Cc")
    ]
    found = [addr.strip().lower() for _, addr in getaddresses(values) if "@" in addr]
    return list(dict.fromkeys(found))[:50]


def _is_empty(parsed: ParsedEmail) -> bool:
    """Nothing a person could act on; a bounce still tells which notification failed."""
    blank = not parsed.subject.strip() and not parsed.text.strip()
    return blank and not parsed.attachments and not parsed.bounce


def _add_bounce_info(msg: Message, parsed: ParsedEmail, body: str) -> None:
    info = flags.bounce_info(msg, body)
    parsed.bounced_message_ids = info.message_ids
    parsed.bounced_recipients = info.recipients
    parsed.ticket_ref = parsed.ticket_ref or info.ticket_ref


def _ticket_ref(msg: Message, parsed: ParsedEmail) -> str | None:
    ref = flags.find_ticket_ref(header_text(msg, "X-Okno-Ticket"), parsed.subject)
    if ref:
        return ref
    # Our own Message-IDs carry the number ("<okno-000123.…@domain>"): replies point at them.
    for ident in [parsed.in_reply_to or "", *parsed.references]:
        match = _OUR_MESSAGE_ID.match(ident)
        if match:
            return f"OKNO-{match.group(1)}"
    return None


def _bracketed_id(msg: Message) -> str | None:
    ident = normalize_message_id(raw_header(msg, "Message-ID"))
    return f"<{ident}>" if ident else None


def _date(msg: Message) -> datetime | None:
    value = header_text(msg, "Date")
    try:
        return parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None


def parse_raw(
    raw: bytes,
    message: IncomingMessage,
    *,
    attachments_dir: Path | None,
    max_attachment_bytes: int,
    max_total_attachment_bytes: int,
) -> IncomingMessage:
    """The worker's hook: the full message from the stored raw bytes and the minimal message."""
    mailbox = message.meta.get("mailbox")
    parsed = parse_email(
        raw,
        mailbox=mailbox if isinstance(mailbox, str) else None,
        attachments_dir=attachments_dir,
        max_attachment_bytes=max_attachment_bytes,
        max_total_attachment_bytes=max_total_attachment_bytes,
    )
    full = parsed.to_incoming(message.external_id)
    meta = {**full.meta, **message.meta}
    meta["notes"] = [*message.meta.get("notes", []), *full.meta["notes"]]
    return full.model_copy(update={"meta": meta, "received_at": message.received_at})


def external_id_of(parsed: ParsedEmail, raw: bytes) -> str:
    """The idempotency key of a parsed mail (same as the inbound paths compute)."""
    bare = parsed.message_id.strip("<>") if parsed.message_id else None
    return key_for(bare, parsed.mailbox, raw)
