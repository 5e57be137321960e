"""SMS text: the whole notification in numbered parts, or a short text with the status link.

Never a cut word or a cut sentence: a text that fits one message (two segments) goes as it
is; a longer one is split at word boundaries into "(1/3) …" parts; one that would need more
than `MAX_PARTS` parts is sent as its first whole sentences and the status link.
"""

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
# More parts than this is a letter, not an SMS: send the short text with the link instead.
MAX_PARTS = 4


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)


def sms_units(text: str) -> int:
    """Septets for GSM-7 text, UTF-16 code units for anything else."""
    if is_gsm7(text):
        return sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
    return len(text.encode("utf-16-le")) // 2


def fits(text: str) -> bool:
    return sms_units(text) <= (GSM7_LIMIT if is_gsm7(text) else UCS2_LIMIT)


def sms_parts(text: str, *, number: str, link: str | None, language: str) -> list[str]:
    """The messages to send: one when it fits, else numbered parts, else the short text."""
    pieces = _pieces(text.translate(_PLAIN))
    if not any(number in p for p in pieces):
        pieces = [f"{number}:", *pieces]
    link_part = f" {LINK_LABEL.get(language, LINK_LABEL['ru'])}{link}" if link else ""
    whole = _final(_join_all(pieces), link_part)
    if fits(whole):
        return [whole]
    parts = split_words(whole)
    if len(parts) <= MAX_PARTS or not link:
        return parts
    return [sms_text(text, number=number, link=link, language=language)]


def split_words(text: str) -> list[str]:
    """`text` in "(k/n) " numbered parts that each fit, split between words only."""
    for digits in (1, 2, 3):
        placeholder = "(" + "9" * digits + "/" + "9" * digits + ") "
        chunks = _pack(text.split(" "), placeholder)
        if len(chunks) < 10**digits:
            total = len(chunks)
            return [f"({k}/{total}) {chunk}" for k, chunk in enumerate(chunks, 1)]
    raise ValueError("text too long for numbered SMS parts")


def _pack(words: list[str], prefix: str) -> list[str]:
    chunks: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if not current or fits(prefix + candidate):
            current = candidate
            continue
        chunks.append(current)
        current = word
    if current:
        chunks.append(current)
    return chunks


def sms_text(text: str, *, number: str, link: str | None, language: str) -> str:
    """The short form: the first whole sentences that fit, the ticket number always, the link."""
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
    """The whole pieces that fit together with `tail`."""
    body = ""
    for piece in pieces:
        candidate = _join(body, piece)
        if not fits(_final(candidate, tail)):
            return body
        body = candidate
    return body


def _join_all(pieces: list[str]) -> str:
    body = ""
    for piece in pieces:
        body = _join(body, piece)
    return body


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
