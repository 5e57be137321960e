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
from channels.email.tnef import Tnef, parse_tnef

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


def _headers_in_body(part: Message) -> Message | None:
    """A blank line too early pushed the part's Content-Type into its body: read it from there."""
    if part.get("Content-Type") is not None or part.is_multipart():
        return None
    data = part.get_payload(decode=False)
    if not isinstance(data, str) or data.lstrip()[:13].lower() != "content-type:":
        return None
    return parse_message(data.lstrip().encode("utf-8", "surrogateescape"))


def _is_tnef(part: Message) -> bool:
    name = str(part.get_filename() or "").lower()
    return part.get_content_type() == "application/ms-tnef" or name == "winmail.dat"


def _forwarded_header(inner: Message) -> str:
    lines = [
        f"{name}: {value}"
        for name in ("From", "Date", "Subject")
        if (value := header_text(inner, name))
    ]
    return "\n".join(["---------- Forwarded message ----------", *lines, "", ""])


def _is_attachment(part: Message) -> bool:
    disposition = str(part.get("Content-Disposition", "")).split(";", 1)[0].strip().lower()
    if disposition == "attachment":
        return True
    # A named text part shown inline is body text (readers display it); other named parts are files.
    return part.get_filename() is not None and not (
        part.get_content_maintype() == "text" and disposition in ("", "inline")
    )


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
        self._tnefs: dict[int, Tnef] = {}

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
            texts = [self._child_text(c) for c in children]
            return "\n\n".join(t for t in texts if t.strip())
        if _is_tnef(part):
            return self._tnef(part).body
        if _is_attachment(part):
            return ""
        if part.get_content_maintype() == "multipart":
            return self._broken_multipart(part)
        if ctype in ("text/plain", "text/html"):
            self._used.add(id(part))
            if (headers := _headers_in_body(part)) is not None:
                return self._text_of(headers)
            return self._leaf_text(part)
        return ""

    def _child_text(self, child: Message) -> str:
        """A part of multipart/mixed: inline text, or a forwarded mail (its text is the request)."""
        if child.get_content_type() == "message/rfc822" and child.is_multipart():
            inner = child.get_payload(0)
            if isinstance(inner, Message):
                return _forwarded_header(inner) + self._text_of(inner)
        return "" if _is_attachment(child) and not _is_tnef(child) else self._text_of(child)

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
        # Plain text is what the sender typed; HTML when the plain part is missing, empty or a
        # stub ("view this mail in a browser") clearly shorter than what the HTML shows.
        texts = {}
        for child in children:
            ctype = child.get_content_type()
            if not _is_attachment(child) and ctype not in texts:
                texts[ctype] = self._text_of(child)
        plain, html = texts.pop("text/plain", ""), texts.pop("text/html", "")
        if len(plain.split()) * 2 < len(html.split()) or not plain.strip():
            plain = html if html.strip() else plain
        rest = [t for t in texts.values() if t.strip()]
        return plain if plain.strip() else (rest[0] if rest else "")

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
        if _is_tnef(part):
            if self._tnef(part).damaged:
                self.budget.add(self._name_of(part), ctype, _payload_bytes(part))
            for item in self._tnef(part).files:
                name = (
                    self._clean_name(item.name) or f"attachment-{len(self.budget.attachments) + 1}"
                )
                self.budget.add(name, "application/octet-stream", item.data)
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

    def _tnef(self, part: Message) -> Tnef:
        """Outlook's winmail.dat, read once: its plain body and the files inside."""
        if id(part) not in self._tnefs:
            tnef = parse_tnef(_payload_bytes(part))
            if tnef.damaged:
                self.notes.append(f"winmail.dat (TNEF) could not be read: {tnef.damaged}")
            elif not tnef.body and not tnef.files:
                self.notes.append("winmail.dat (TNEF) holds no body or file Okno can read")
            self._tnefs[id(part)] = tnef
        return self._tnefs[id(part)]

    def _name_of(self, part: Message, fallback: str | None = None) -> str:
        raw = part.get_filename()
        name = self._clean_name(decode_header_value(str(raw)) if raw else "")
        if name:
            return name
        if fallback:
            return _UNSAFE_NAME.sub("_", fallback)[:255]
        extension = mimetypes.guess_extension(part.get_content_type()) or ".bin"
        return f"attachment-{len(self.budget.attachments) + 1}{extension}"

    @staticmethod
    def _clean_name(name: str) -> str:
        return _UNSAFE_NAME.sub("_", name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip(" ._")[:255]
