"""Cutting quoted replies and signatures, so the classifier reads only what the sender wrote."""

from __future__ import annotations

import re

# A line that starts the quoted earlier message (Outlook, Thunderbird, Gmail, Apple, Mail.ru).
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(original message|исходное сообщение|оригинальное сообщение|ursprüngliche nachricht|"
    r"original nachricht|originalnachricht)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FORWARD = re.compile(
    r"^\s*-{2,}\s*(forwarded message|пересылаемое сообщение|переадресованное сообщение|"
    r"weitergeleitete nachricht)"
    r"|^\s*begin forwarded message:|^\s*начало переадресованного сообщения:",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?(from|от|отправитель|von)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\s*\*?(sent|date|to|cc|subject|отправлено|дата|кому|копия|тема|"
    r"gesendet|datum|an|betreff)\s*:",
    re.IGNORECASE,
)
# "On Mon, 3 Mar 2025 at 10:00, Ivan <ivan@x> wrote:", "03.03.2025 10:00, Иван пишет:",
# Gmail ru "пн, 3 мар. 2025 г. в 10:00, Иван <ivan@x>:", Apple "…, Иван написал(а):".
_ATTRIBUTION = re.compile(
    r"(\b(wrote|writes|пишет|написал|написала|написал\(а\)|schrieb|geschrieben|"
    r"a écrit|escribió|ha scritto|schreef|skrev|napisał|napisała|napsal)\s*:\s*$)"
    r"|(\d.*<[^<>\s]+@[^<>\s]+>\s*:\s*$)",
    re.IGNORECASE,
)
_DATE_OR_ADDRESS = re.compile(r"\d|@")
# How attributions begin: "On …", "Am …", a date, or a weekday/day name and a comma.
_ATTRIBUTION_START = re.compile(
    r"^\s*(on\s|am\s|le\s|el\s|il\s|op\s|den\s|w dniu\s|\d|[^\W\d]+\.?,\s*\d)", re.IGNORECASE
)
_RULE = re.compile(r"^\s*_{10,}\s*$")
_SIG_DASHES = re.compile(r"^--\s?$")
_MOBILE = re.compile(
    r"^\s*(sent from my (iphone|ipad|android|samsung|mobile|blackberry)[\w ]*"
    r"|get outlook for (ios|android)"
    r"|отправлено (с|со) (моего )?(iphone|ipad|android|samsung|мобильного|смартфона)[\w ]*"
    r"|отправлено из (мобильной почты|мобильного приложения)[\w .]*"
    r"|sent from (yandex|mail\.ru)[\w .]*)\s*$",
    re.IGNORECASE,
)
_VALEDICTION = re.compile(
    r"^\s*(с уважением|с наилучшими пожеланиями|best regards|kind regards|regards|"
    r"mit freundlichen grüßen|mit freundlichen grüssen|viele grüße|beste grüße|mfg|"
    r"br|cheers|thanks and regards|всего доброго)\s*[,.!]?\s*$",
    re.IGNORECASE,
)
# A signature after a valediction is a handful of short lines (name, title, phone).
_SIG_MAX_LINES = 8
_SIG_MAX_LEN = 80


def _is_header_block(lines: list[str], i: int) -> bool:
    """A quoted header block: a From line, then Sent/To/Subject lines (any language) below it."""
    if not _HEADER_FROM.match(lines[i]):
        return False
    following = [line for line in lines[i + 1 : i + 5] if line.strip()]
    return sum(1 for line in following if _HEADER_NEXT.match(line)) >= 1


def _is_attribution(lines: list[str], i: int) -> bool:
    if not _ATTRIBUTION_START.match(lines[i]):
        return False
    # Clients wrap long attribution lines, so try the line joined with the next one or two.
    for span in (1, 2, 3):
        chunk = lines[i : i + span]
        if len(chunk) < span or not all(line.strip() for line in chunk):
            return False
        joined = " ".join(line.strip() for line in chunk)
        # A date or an address in it tells a real attribution from a sentence like "as I wrote:".
        if len(joined) < 300 and _ATTRIBUTION.search(joined) and _DATE_OR_ADDRESS.search(joined):
            return True
    return False


def _quote_start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if _SEPARATOR.match(line) or _is_header_block(lines, i) or _is_attribution(lines, i):
            # An Outlook web rule ("_____") right above the header block belongs to the quote.
            return i - 1 if i and _RULE.match(lines[i - 1]) else i
    return _trailing_quote(lines)


def _trailing_quote(lines: list[str]) -> int | None:
    """Start of a final block of '>' lines (blank lines allowed inside), if there is one."""
    start = None
    for i in range(len(lines) - 1, -1, -1):
        stripped = lines[i].strip()
        if stripped.startswith(">"):
            start = i
        elif stripped:
            break
    return start


def _signature_start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if _SIG_DASHES.match(line) or (_MOBILE.match(line) and i >= len(lines) - 4):
            return i
    tail_from = max(0, len(lines) - _SIG_MAX_LINES - 1)
    for i in range(tail_from, len(lines)):
        if _VALEDICTION.match(lines[i]):
            rest = [line for line in lines[i + 1 :] if line.strip()]
            if len(rest) <= _SIG_MAX_LINES and all(len(line) <= _SIG_MAX_LEN for line in rest):
                return i
    return None


def strip_quotes(text: str) -> str:
    """Drop the quoted earlier messages of a reply; keep everything when that leaves nothing."""
    lines = text.split("\n")
    start = _quote_start(lines)
    if start is None:
        return text
    head = "\n".join(lines[:start]).strip()
    return head or _below_quote(lines, start) or text


def _below_quote(lines: list[str], start: int) -> str:
    """A bottom-posted reply: what follows the attribution and its '>' lines."""
    i = start + 1
    while i < len(lines) and (lines[i].lstrip().startswith(">") or not lines[i].strip()):
        i += 1
    return "\n".join(lines[i:]).strip() if i > start + 1 else ""


def strip_signature(text: str) -> str:
    """Drop a '-- ' signature, a mobile footer, or a short sign-off block at the end."""
    lines = text.split("\n")
    start = _signature_start(lines)
    if start is None:
        return text
    head = "\n".join(lines[:start]).strip()
    return head or text


def split_forward(text: str) -> tuple[str, str]:
    """The sender's own note and the forwarded message (with its marker line), or (text, '')."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _FORWARD.match(line) or (_SEPARATOR.match(line)) or _is_header_block(lines, i):
            return "\n".join(lines[:i]), "\n".join(lines[i:])
    return text, ""


def has_forward_marker(text: str) -> bool:
    return any(_FORWARD.match(line) for line in text.split("\n"))


def clean_body(text: str, *, forward: bool) -> str:
    """The clean text of a body: for replies only the new part, for forwards the note and chain."""
    text = normalise_whitespace(text)
    if forward:
        note, chain = split_forward(text)
        note = strip_signature(note) if note.strip() else ""
        return normalise_whitespace(f"{note}\n\n{chain}") if chain else strip_signature(text)
    return normalise_whitespace(strip_signature(strip_quotes(text)))


def normalise_whitespace(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def unflow(text: str, *, delsp: bool) -> str:
    """Undo RFC 3676 format=flowed: a line ending in a space continues on the next line of
    the same quote depth."""
    out: list[str] = []
    carry: tuple[int, str] | None = None
    for line in text.split("\n"):
        line = line.rstrip("\r")
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        content = content[1:] if content.startswith(" ") else content  # space-stuffing
        if carry is not None and carry[0] != depth:
            out.append(_quoted(*carry))
            carry = None
        flowed = content.endswith(" ") and content.rstrip() != "--"
        joined = (carry[1] if carry else "") + (content[:-1] if flowed and delsp else content)
        carry = (depth, joined) if flowed else None
        if not flowed:
            out.append(_quoted(depth, joined))
    if carry is not None:
        out.append(_quoted(*carry))
    return "\n".join(out)


def _quoted(depth: int, content: str) -> str:
    return ">" * depth + (" " if depth and content else "") + content
