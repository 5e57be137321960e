"""Turning the bytes real mail carries into text: declared, mislabelled and undeclared charsets."""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re

# Labels seen in the wild that Python's codec registry does not know, or knows by another name.
ALIASES = {
    "win-1251": "cp1251",
    "x-cp1251": "cp1251",
    "windows-1251": "cp1251",
    "cp-1251": "cp1251",
    "win1251": "cp1251",
    "x-koi8-r": "koi8_r",
    "koi8": "koi8_r",
    "ks_c_5601-1987": "cp949",
    "x-mac-cyrillic": "mac_cyrillic",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
}
# Labels that say nothing: treat the bytes as undeclared.
UNKNOWN = {"", "unknown-8bit", "x-unknown", "unknown", "default", "charset", "x-user-defined"}
CYRILLIC_GUESSES = ("cp1251", "koi8-r")
# Declared Western charsets that Russian clients (Outlook Express, old webmail) put on cp1251 text.
LATIN = {"iso8859-1", "iso8859-15", "cp1252", "ascii"}
CYRILLIC = {"cp1251", "koi8-r", "koi8-u", "iso8859-5", "cp866", "mac-cyrillic"}

# Relative frequency of Russian letters (per mille): plausible text scores high, mojibake low.
_FREQ = dict(
    zip(
        "оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё",
        (
            110,
            85,
            80,
            73,
            67,
            63,
            55,
            47,
            45,
            44,
            35,
            32,
            30,
            28,
            26,
            20,
            19,
            17,
            17,
            16,
            16,
            15,
            12,
            10,
            9,
            7,
            6,
            5,
            4,
            3,
            3,
            1,
            1,
        ),
        strict=True,
    )
)
# Box drawing, C1 controls, the rare Cyrillic of other languages, replacement char: mojibake.
_ODD = re.compile("[\u0080-\u009f\u2500-\u259f\u0400-\u040f\u0452-\u045f\ufffd\u00a4\u00a6]")
_MIDWORD_UPPER = re.compile("[а-яё][А-ЯЁ]")
_MIXED_SCRIPT = re.compile("[A-Za-z][А-яЁё]|[А-яЁё][A-Za-z]")
_LATIN1_LETTER = re.compile("[\u00c0-\u00ff]")
_ASCII_LETTER = re.compile("[A-Za-z]")


def codec_name(label: str | None) -> str | None:
    """Python's codec name for a MIME charset label, or None when unknown or meaningless."""
    label = (label or "").strip().strip("\"'").lower()
    if label in UNKNOWN:
        return None
    label = ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def plausibility(text: str) -> float:
    """How much `text` looks like real text in a Cyrillic reading; higher is better, 0 neutral."""
    score = 0.0
    for ch in text:
        weight = _FREQ.get(ch.lower())
        if weight is not None:
            score += weight / 10 if ch.islower() else weight / 20
    score -= 20 * len(_ODD.findall(text))
    score -= 10 * len(_MIDWORD_UPPER.findall(text))
    score -= 10 * len(_MIXED_SCRIPT.findall(text))
    return score


def _try(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _guess(data: bytes) -> tuple[str, str]:
    """Undeclared 8-bit: the most plausible Cyrillic reading, Western when none is plausible."""
    candidates = [(t, c) for c in (*CYRILLIC_GUESSES, "cp1252") if (t := _try(data, c)) is not None]
    if not candidates:
        return data.decode("cp1251", "replace"), "cp1251"
    return max(candidates, key=lambda pair: plausibility(pair[0]))


def _mostly_utf8(data: bytes) -> str | None:
    """Declared UTF-8 with a few broken sequences (a split character) stays UTF-8."""
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ch > "\x7f" and ch != "\ufffd")
    # One broken sequence among real UTF-8 text is a split character; bytes with no valid
    # multibyte sequence at all ('caf\xe9' labelled UTF-8) are another charset.
    return text if good and (bad * 10 <= good or bad == 1) else None


def _looks_like_mojibake(text: str) -> bool:
    """Latin-1 letters making up a third of all letters is Cyrillic read with the wrong table."""
    accented = len(_LATIN1_LETTER.findall(text))
    return accented >= 3 and accented * 2 >= len(_ASCII_LETTER.findall(text))


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode `data`, trusting the declared charset only while the result stays plausible."""
    if data.isascii():
        return _seven_bit(data, declared)
    # Cyrillic in cp1251 or koi8-r is practically never valid UTF-8, so valid UTF-8 wins.
    utf8 = _try(data, "utf-8")
    if utf8 is not None:
        return utf8, "utf-8"
    codec = codec_name(declared)
    if codec == "utf-8" and (lossy := _mostly_utf8(data)) is not None:
        return lossy, "utf-8"
    text = _try(data, codec) if codec and codec != "utf-8" else None
    if text is None or codec is None:
        return _guess(data)
    if codec in LATIN:
        return _guess(data) if _looks_like_mojibake(text) else (text, codec)
    if codec in CYRILLIC:
        return _compare_cyrillic(data, text, codec)
    return text, codec


def _seven_bit(data: bytes, declared: str | None) -> tuple[str, str]:
    """7-bit bytes: plain ASCII unless a stateful charset (ISO-2022-JP, UTF-7) is declared or used."""
    codec = codec_name(declared)
    if codec is None and _ISO2022_ESCAPE.search(data):
        codec = "iso2022_jp_ext"
    if codec and (codec.startswith("iso2022") or codec == "utf-7"):
        text = _try(data, codec)
        if text is not None:
            return text, codec
    return data.decode("ascii"), "ascii"


def _compare_cyrillic(data: bytes, text: str, codec: str) -> tuple[str, str]:
    """A declared Cyrillic charset loses only to a clearly more plausible reading of the bytes."""
    mine = plausibility(text)
    best = (text, codec)
    for other in CYRILLIC_GUESSES:
        alt = _try(data, other)
        if other != codec and alt is not None and plausibility(alt) > max(mine, 0) * 2 + 10:
            best = max(best, (alt, other), key=lambda pair: plausibility(pair[0]))
    return best


# --- headers -------------------------------------------------------------------------------

# Payload may hold spaces: broken clients write "=?us-ascii?Q?ABC / 123?=" and readers decode it.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?]*?)\?=")
# 8-bit bytes (surrogate-escaped by the parser) or an ISO-2022 escape: the value needs its bytes.
_RAW_BYTES = re.compile("[\udc80-\udcff\x1b]")
_ISO2022_ESCAPE = re.compile(rb"\x1b(\$[@B(]|\([BJ])")
_FOLD = re.compile(r"\r?\n[ \t]")
_BETWEEN_WORDS = re.compile(r"\?=[ \t]+=\?")


def header_bytes(raw: str) -> bytes:
    """The original bytes of a header value the parser kept as surrogate-escaped text."""
    return raw.encode("utf-8", "surrogateescape")


def _decode_word_payload(encoding: str, payload: str) -> bytes:
    if encoding.upper() == "B":
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return payload.encode("ascii", "replace")
    return quopri.decodestring(payload.replace("_", " ").encode("ascii", "replace"), header=True)


def decode_header_value(raw: str | None) -> str:
    """Decode a raw header value: 8-bit bytes, RFC 2047 words (also broken or mislabelled ones)."""
    if not raw:
        return ""
    text = _FOLD.sub(" ", raw)
    if _RAW_BYTES.search(text):
        text = decode_bytes(header_bytes(text))[0]
    # Words of one charset are joined before decoding: clients split multibyte chars across them.
    text = _BETWEEN_WORDS.sub("?==?", text)
    parts: list[str] = []
    pending: list[tuple[str | None, bytes]] = []
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        if match.start() > pos:
            parts.append(_flush(pending) + text[pos : match.start()])
        label, enc, payload = match.groups()
        chunk = _decode_word_payload(enc, payload)
        charset = label.split("*", 1)[0]  # RFC 2231 language suffix: =?utf-8*ru?B?...?=
        if pending and pending[-1][0] == charset:
            pending[-1] = (charset, pending[-1][1] + chunk)
        else:
            pending.append((charset, chunk))
        pos = match.end()
    parts.append(_flush(pending) + text[pos:])
    return " ".join("".join(parts).split())


def _flush(pending: list[tuple[str | None, bytes]]) -> str:
    out = "".join(decode_bytes(data, label)[0] for label, data in pending)
    pending.clear()
    return out
