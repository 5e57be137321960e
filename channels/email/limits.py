"""What one mail may cost before it is parsed: junk before the headers, MIME depth and parts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A mail that nests deeper or has more parts than any person sends is cut there: the text
# (which comes first) is kept, the rest is dropped with a note instead of costing the worker
# seconds of parsing or a RecursionError.
MAX_CONTAINERS = 64
MAX_PARTS = 500
PREFIX_LINES = 8
MAX_HEADER_BYTES = 256 * 1024

_HEADER_LINE = re.compile(rb"^[!-9;-~]{1,76}:[ \t]?[^\r\n]*\r?$")
_OBS_FIELD = re.compile(rb"^([!-9;-~]{1,76})[ \t]+:", re.M)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_CONTAINER = re.compile(rb"^content-type:[ \t]*(multipart/|message/rfc822)", re.I | re.M)
_BOUNDARY = re.compile(rb"""boundary[ \t]*=[ \t]*(?:"([^"\r\n]{1,200})"|([^;\s"]{1,200}))""", re.I)
_PLAIN_LEAF = re.compile(
    rb"^content-type:[ \t]*text/plain[^\n]*\n(?:[^\r\n]+\r?\n)*\r?\n(.*?)(?=^--|\Z)",
    re.I | re.M | re.S,
)
_DELIMITER = re.compile(rb"^--([^\r\n]{1,200}?)(?:--)?[ \t]*\r?$", re.M)


@dataclass
class Trimmed:
    """The raw bytes to parse and what was cut off on the way."""

    raw: bytes
    notes: list[str] = field(default_factory=list)
    dropped: bytes = b""

    def dropped_text(self) -> bytes:
        """The first plain-text leaf in what was cut off (deep nesting hides the text at the end)."""
        match = _PLAIN_LEAF.search(self.dropped)
        return match.group(1).strip() if match else b""


def skip_prefix(raw: bytes) -> Trimmed:
    """Drop what precedes the header block: an mbox 'From ' line, a '---- … ----' banner, blanks."""
    lines = raw.split(b"\n", PREFIX_LINES)
    for i, line in enumerate(lines[:PREFIX_LINES]):
        if _OBS_FIELD.match(line) or (_HEADER_LINE.match(line) and not line.startswith(b"From ")):
            if i == 0:
                return Trimmed(raw)
            dropped = len(b"\n".join(lines[:i])) + 1
            return Trimmed(raw[dropped:], [f"{i} line(s) before the header block skipped"])
        if line.strip() and not _is_junk(line):
            break
    return Trimmed(raw)


def repair_header_block(raw: bytes) -> Trimmed:
    """Mend the header block as readers do: 'Subject  : x' (RFC 5322's obsolete form) becomes
    'Subject: x', and a stray line between header fields is dropped instead of ending the block."""
    blank = _BLANK_LINE.search(raw, 0, MAX_HEADER_BYTES)
    if blank is None:
        return Trimmed(raw)  # no header block to tell apart from the body
    end = blank.start()
    lines = _OBS_FIELD.sub(rb"\1:", raw[:end]).split(b"\n")
    last_field = max((i for i, line in enumerate(lines) if _HEADER_LINE.match(line)), default=-1)
    kept = [line for i, line in enumerate(lines) if i > last_field or not _is_stray(line)]
    dropped = len(lines) - len(kept)
    notes = [f"{dropped} malformed header line(s) dropped"] if dropped else []
    return Trimmed(b"\n".join(kept) + raw[end:], notes)


def _is_stray(line: bytes) -> bool:
    return bool(line.strip()) and not line[:1].isspace() and not _HEADER_LINE.match(line)


def _is_junk(line: bytes) -> bool:
    text = line.strip()
    return text.startswith((b"From ", b">From ")) or (text[:2] in (b"--", b"==", b"**"))


def bound(raw: bytes) -> Trimmed:
    """Cut the raw mail before its MAX_CONTAINERS+1-th container or MAX_PARTS+1-th part."""
    cut, notes = len(raw), []
    containers = list(_CONTAINER.finditer(raw))
    if len(containers) > MAX_CONTAINERS:
        cut = containers[MAX_CONTAINERS].start()
        notes.append(
            f"MIME: {len(containers)} nested containers, more than {MAX_CONTAINERS}; the rest dropped"
        )
    boundaries = {m.group(1) or m.group(2) for m in _BOUNDARY.finditer(raw, 0, cut)}
    delimiters = [m for m in _DELIMITER.finditer(raw, 0, cut) if _opens(m.group(1), boundaries)]
    if len(delimiters) > MAX_PARTS:
        cut = delimiters[MAX_PARTS].start()
        notes.append(f"MIME: {len(delimiters)} parts, more than {MAX_PARTS}; the rest dropped")
    return Trimmed(raw[:cut], notes, raw[cut:]) if notes else Trimmed(raw)


def _opens(token: bytes, boundaries: set[bytes]) -> bool:
    return token in boundaries or token.rstrip(b"-") in boundaries
