"""Walking a MIME tree: the readable body (plain preferred, HTML converted) and the attachments."""

from __future__ import annotations

import mimetypes
import re
from email.message import Message

from channels.email.attachments import AttachmentBudget
from channels.email.charsets import decode_bytes, decode_header_value
from channels.email.headers import header_text, parse_message
from channels.email.html import html_to_text
from channels.email.quotes import unflow

# Parts of a delivery report that describe the failed mail; never attachments of their own.
_REPORT_PARTS = {
    "message/delivery-status",
    "text/rfc822-headers",
    "message/disposition-notification",
}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_:.-]+)""", re.IGNORECASE)
_BOUNDARY_LINE = re.compile(rb"^--([!-~]{6,70}?)(--)?\r?$", re.MULTILINE)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\\/:*?\"<>|]+")


def _resplit(content_type: str, data: bytes) -> Message | None:
    match = _BOUNDARY_LINE.search(data)
    if match is None:
        return None
    boundary = match.group(1).decode("ascii", "replace")
    head = f'Content-Type: {content_type}; boundary="{boundary}"\r\n\r\n'.encode()
    salvaged = parse_message(head + data)
    return salvaged if salvaged.is_multipart() else None


def _is_attachment(part: Message) -> bool:
    disposition = str(part.get("Content-Disposition", "")).split(";", 1)[0].strip().lower()
    return disposition == "attachment" or part.get_filename() is not None


def _payload_bytes(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""


class BodyWalker:
    """Collects the body text of a message and stores every other leaf through the budget."""

    def __init__(self, budget: AttachmentBudget) -> None:
        self.budget = budget
        self.notes: list[str] = []
        self._used: set[int] = set()
        self._salvaged: dict[int, Message] = {}

    def body(self, msg: Message) -> str:
        text = self._text_of(msg)
        self._collect_attachments(msg, in_report=False)
        return text

    # --- body -------------------------------------------------------------------------------

    def _text_of(self, part: Message) -> str:
        ctype = part.get_content_type()
        if part.is_multipart():
            children = [c for c in part.get_payload() if isinstance(c, Message)]
            if ctype == "multipart/alternative":
                return self._alternative(children)
            if ctype in ("multipart/related", "multipart/report") or ctype.startswith("message/"):
                return self._text_of(children[0]) if children else ""
            texts = [self._text_of(c) for c in children if not _is_attachment(c)]
            return "\n\n".join(t for t in texts if t.strip())
        if _is_attachment(part):
            return ""
        if part.get_content_maintype() == "multipart":
            return self._broken_multipart(part)
        if ctype in ("text/plain", "text/html"):
            self._used.add(id(part))
            return self._leaf_text(part)
        return ""

    def _broken_multipart(self, part: Message) -> str:
        """A multipart the parser could not split: re-split it at the boundary actually used."""
        data = _payload_bytes(part)
        salvaged = _resplit(part.get_content_type(), data)
        if salvaged is not None:
            self.notes.append("broken MIME: declared boundary not found, split at the one used")
            self._salvaged[id(part)] = salvaged
            return self._text_of(salvaged)
        self.notes.append("broken MIME: multipart without a usable boundary, read as text")
        self._used.add(id(part))
        return decode_bytes(data)[0]

    def _alternative(self, children: list[Message]) -> str:
        # Plain text is what the sender typed; HTML only when the plain part is missing or empty.
        ranked = sorted(children, key=lambda c: c.get_content_type() != "text/plain")
        for child in ranked:
            if _is_attachment(child):
                continue
            text = self._text_of(child)
            if text.strip():
                return text
        return ""

    def _leaf_text(self, part: Message) -> str:
        data = _payload_bytes(part)
        declared = part.get_content_charset()
        if part.get_content_type() == "text/html":
            if declared is None and (meta := _META_CHARSET.search(data[:4096])):
                declared = meta.group(1).decode("ascii")
            return html_to_text(decode_bytes(data, declared)[0])
        text = decode_bytes(data, declared)[0].replace("\r\n", "\n")
        if str(part.get_param("format") or "").lower() == "flowed":
            text = unflow(text, delsp=str(part.get_param("delsp") or "").lower() == "yes")
        return text

    # --- attachments ------------------------------------------------------------------------

    def _collect_attachments(self, part: Message, *, in_report: bool) -> None:
        ctype = part.get_content_type()
        if id(part) in self._salvaged:
            self._collect_attachments(self._salvaged[id(part)], in_report=in_report)
            return
        if ctype == "message/rfc822":
            # A bounce quotes our own mail back: that is report data, not the sender's file.
            if not in_report:
                self._store_message(part)
            return
        if part.is_multipart():
            report = in_report or ctype == "multipart/report"
            for child in part.get_payload():
                if isinstance(child, Message):
                    self._collect_attachments(child, in_report=report)
            return
        if id(part) in self._used or ctype in _REPORT_PARTS:
            return
        if ctype in ("text/plain", "text/html") and not _is_attachment(part):
            return  # the other half of a multipart/alternative
        self.budget.add(self._name_of(part), ctype, _payload_bytes(part))

    def _store_message(self, part: Message) -> None:
        inner = part.get_payload(0) if part.is_multipart() else None
        if not isinstance(inner, Message):
            return
        name = self._name_of(part, fallback=f"{header_text(inner, 'Subject') or 'message'}.eml")
        try:
            data = inner.as_bytes()
        except (UnicodeError, LookupError, ValueError):
            data = inner.as_string().encode("utf-8", "surrogateescape")
        self.budget.add(name, "message/rfc822", data)

    def _name_of(self, part: Message, fallback: str | None = None) -> str:
        raw = part.get_filename()
        name = decode_header_value(str(raw)) if raw else ""
        name = _UNSAFE_NAME.sub("_", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip(" ._")
        if name:
            return name[:255]
        if fallback:
            return _UNSAFE_NAME.sub("_", fallback)[:255]
        extension = mimetypes.guess_extension(part.get_content_type()) or ".bin"
        return f"attachment-{len(self.budget.attachments) + 1}{extension}"
