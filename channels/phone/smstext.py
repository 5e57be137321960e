"""SMS text: the notification cut to two segments by whole sentences and words, never mid-word."""

from __future__ import annotations

import re

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")  # each costs two septets (escape + char)
GSM7_LIMIT = 306  # two concatenated GSM-7 segments
UCS2_LIMIT = 140  # two UCS-2 segments of 70, as the SSC's gateway contract caps them

# Typography that would force UCS-2 (and halve the room) on an otherwise plain Latin text.
_PLAIN = str.maketrans(
    {"—": "-", "–": "-", "«": '"', "»": '"', "“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"}
    | {"…": "...", "\u00a0": " "}
)
_CLOSING = ".!?:;…"
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
LINK_LABEL = {"ru": "Статус: ", "en": "Status: "}
# A cut-off sentence shorter than this is noise: stop at the last whole one instead.
MIN_PARTIAL = 16


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def sms_units(text: str) -> int:
    """Septets for GSM-7 text, UTF-16 code units for anything else."""
    if is_gsm7(text):
        return sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
    return len(text.encode("utf-16-le")) // 2


def fits(text: str) -> bool:
    return sms_units(text) <= (GSM7_LIMIT if is_gsm7(text) else UCS2_LIMIT)


def sms_text(text: str, *, number: str, link: str | None, language: str) -> str:
    """The first sentences that fit, the ticket number always, then the status link."""
    pieces = _pieces(text.translate(_PLAIN))
    link_part = f" {LINK_LABEL.get(language, LINK_LABEL['ru'])}{link}" if link else ""
    # A very long link gives way before the ticket number does.
    for tail in dict.fromkeys((link_part, "")):
        for candidate in (pieces, [f"{number}:", *pieces]):
            body = _fill(candidate, tail)
            if number in body:
                return _final(body, tail)
    return number


def _pieces(text: str) -> list[str]:
    """Lines, then sentences: the units the text may be shortened by."""
    parts: list[str] = []
    for line in text.splitlines():
        parts.extend(p.strip() for p in _SENTENCE_END.split(line) if p.strip())
    return [" ".join(p.split()) for p in parts]


def _fill(pieces: list[str], tail: str) -> str:
    body = ""
    for piece in pieces:
        candidate = _join(body, piece)
        if fits(_final(candidate, tail)):
            body = candidate
            continue
        return _join(body, _cut(body, piece, tail))
    return body


def _cut(body: str, piece: str, tail: str) -> str:
    """The longest word-boundary prefix of `piece` (with an ellipsis) that still fits."""
    words = piece.split()
    ellipsis = "..." if is_gsm7(piece) else "…"
    for count in range(len(words) - 1, 0, -1):
        prefix = " ".join(words[:count]).rstrip(",;:-") + ellipsis
        if fits(_final(_join(body, prefix), tail)):
            return prefix if len(prefix) >= MIN_PARTIAL or not body else ""
    return ""


def _final(body: str, tail: str) -> str:
    """Body and link; a full stop between them, so the link is not read into the last sentence."""
    if not tail or not body or body[-1] in _CLOSING:
        return body + tail
    return f"{body}.{tail}"


def _join(body: str, piece: str) -> str:
    if not piece:
        return body
    if not body:
        return piece
    return f"{body} {piece}" if body[-1] in _CLOSING else f"{body}. {piece}"
