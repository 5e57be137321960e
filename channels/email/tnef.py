"""Outlook's TNEF (winmail.dat): the body a person wrote and the files it wraps.

A bounded reader of its own: every count and length in the stream is checked against the bytes
that are left, so a crafted winmail.dat cannot make the worker loop or allocate without end.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from compressed_rtf import decompress
from striprtf.striprtf import rtf_to_text

from channels.email.charsets import codec_name, decode_bytes
from channels.email.html import html_to_text

SIGNATURE = 0x223E9F78
# TNEF attributes (low 16 bits of the attribute id) and MAPI property ids Okno reads.
_ATT_BODY, _ATT_MAPI_PROPS, _ATT_REND_DATA = 0x800C, 0x9003, 0x9002
_ATT_TITLE, _ATT_DATA, _ATT_ATTACHMENT, _ATT_OEM_CODEPAGE = 0x8010, 0x800F, 0x9005, 0x9007
_PR_BODY, _PR_HTML, _PR_RTF, _PR_CPID = 0x1000, 0x1013, 0x1009, 0x3FDE
_PR_FILENAME, _PR_LONG_FILENAME, _PR_DATA_OBJ = 0x3704, 0x3707, 0x3701
_LEVEL_ATTACHMENT = 2
_FIXED = {0x0002: 2, 0x000B: 2, 0x0003: 4, 0x0004: 4, 0x000A: 4, 0x0005: 8, 0x0006: 8}
_FIXED |= {0x0007: 8, 0x0014: 8, 0x0040: 8, 0x0048: 16, 0x0001: 0}
_VARIABLE = {0x001E, 0x001F, 0x000D, 0x0102, 0x0000}
_IMESSAGE = b"\x07\x03\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
_ANSI_CODEPAGE = re.compile(rb"\\ansicpg(\d{3,5})")


class TnefError(ValueError):
    """The stream is not TNEF or is damaged past reading."""


@dataclass
class TnefFile:
    name: str = ""
    data: bytes = b""


@dataclass
class Tnef:
    """What a winmail.dat holds that Okno can read; `damaged` when the stream is broken."""

    body: str = ""
    files: list[TnefFile] = field(default_factory=list)
    damaged: str | None = None


def is_tnef(data: bytes) -> bool:
    return len(data) >= 6 and struct.unpack_from("<I", data)[0] == SIGNATURE


def parse_tnef(data: bytes) -> Tnef:
    """Plain body first, then the HTML or RTF body as text; files by their long names."""
    if not is_tnef(data):
        return Tnef(damaged="not a TNEF stream")
    reader = _Reader()
    try:
        reader.walk(data)
    except (TnefError, struct.error, UnicodeError) as exc:
        reader.result.damaged = f"{type(exc).__name__}: {exc}"
    reader.result.body = reader.body_text()
    return reader.result


class _Reader:
    def __init__(self) -> None:
        self.result = Tnef()
        self.props: dict[int, object] = {}
        self.body = b""
        self.codepage = "cp1252"

    def walk(self, data: bytes) -> None:
        pos = 6  # signature and legacy key
        while pos + 9 <= len(data):
            level, attribute, length = struct.unpack_from("<BII", data, pos)
            if length > len(data) - pos - 9:
                raise TnefError("attribute longer than the stream")
            self._take(level, attribute & 0xFFFF, data[pos + 9 : pos + 9 + length])
            pos += 9 + length + 2  # the checksum

    def _take(self, level: int, ident: int, value: bytes) -> None:
        files = self.result.files
        if level == _LEVEL_ATTACHMENT:
            if ident == _ATT_REND_DATA or not files:
                files.append(TnefFile())
            if ident == _ATT_TITLE and not files[-1].name:
                files[-1].name = self._text(value)
            elif ident == _ATT_DATA:
                files[-1].data = value
            elif ident == _ATT_ATTACHMENT:
                self._attachment_props(files[-1], mapi_props(value))
        elif ident == _ATT_BODY:
            self.body = value
        elif ident == _ATT_MAPI_PROPS:
            self.props = mapi_props(value)
        elif ident == _ATT_OEM_CODEPAGE and len(value) >= 4:
            self.codepage = codec_name(f"cp{struct.unpack_from('<I', value)[0]}") or "cp1252"

    def _attachment_props(self, item: TnefFile, props: dict[int, object]) -> None:
        for ident in (_PR_LONG_FILENAME, _PR_FILENAME):
            if isinstance(props.get(ident), str | bytes):
                item.name = self._text(props[ident])
                break
        obj = props.get(_PR_DATA_OBJ)
        if isinstance(obj, bytes) and not item.data:
            item.data = obj[len(_IMESSAGE) :] if obj.startswith(_IMESSAGE) else obj

    def _text(self, value: object) -> str:
        if isinstance(value, str):
            return value.strip("\0 ")
        raw = value.rstrip(b"\0") if isinstance(value, bytes) else b""
        return decode_bytes(raw, self.codepage)[0].strip()

    def body_text(self) -> str:
        plain = self.props.get(_PR_BODY) or self.body
        if text := self._text(plain):
            return text.replace("\r\n", "\n")
        html = self.props.get(_PR_HTML)
        if isinstance(html, bytes | str) and (text := html_to_text(self._text(html))):
            return text
        rtf = self.props.get(_PR_RTF)
        return _rtf_text(rtf) if isinstance(rtf, bytes) else ""


def mapi_props(data: bytes) -> dict[int, object]:
    """MAPI properties by id: str for strings, bytes for binary and objects, else raw bytes."""
    props: dict[int, object] = {}
    count, pos = _u32(data, 0), 4
    if count > len(data) // 4:
        raise TnefError("more MAPI properties than bytes")
    for _ in range(count):
        kind, ident = struct.unpack_from("<HH", data, pos)
        pos = _skip_name(data, pos + 4) if ident >= 0x8000 else pos + 4
        multi = bool(kind & 0x1000)
        kind &= ~0x1000
        values = _u32(data, pos) if multi else 1
        pos += 4 if multi else 0
        if values > len(data) - pos:
            raise TnefError("more MAPI values than bytes")
        for _ in range(values):
            value, pos = _value(data, pos, kind, multi=multi)
            props.setdefault(ident, value)
        if kind in (0x0002, 0x000B) and values % 2:
            pos += 2
    return props


def _value(data: bytes, pos: int, kind: int, *, multi: bool) -> tuple[object, int]:
    if kind in _FIXED:
        return data[pos : pos + _FIXED[kind]], pos + _FIXED[kind]
    if kind not in _VARIABLE:
        raise TnefError(f"unknown MAPI type {kind:#06x}")
    # A single variable-size value carries its own count of 1; each of a multi-valued
    # property's values does not.
    count = 1 if multi else _u32(data, pos)
    pos += 0 if multi else 4
    if count > (len(data) - pos) // 4:
        raise TnefError("more MAPI values than bytes")
    values: list[object] = []
    for _ in range(count):
        length = _u32(data, pos)
        if length > len(data) - pos - 4:
            raise TnefError("MAPI value longer than the stream")
        raw = data[pos + 4 : pos + 4 + length]
        pos += 4 + length + (-length % 4)
        values.append(raw.decode("utf-16-le", "replace").rstrip("\0") if kind == 0x001F else raw)
    return (values[0] if values else b""), pos


def _skip_name(data: bytes, pos: int) -> int:
    kind = _u32(data, pos + 16)
    if kind == 0:
        return pos + 24
    length = _u32(data, pos + 20)
    if length > len(data) - pos:
        raise TnefError("MAPI name longer than the stream")
    return pos + 24 + length + (-length % 4)


def _u32(data: bytes, pos: int) -> int:
    return int(struct.unpack_from("<I", data, pos)[0])


def _rtf_text(compressed: bytes) -> str:
    try:
        raw = decompress(compressed)
    except Exception:  # noqa: BLE001 - the RTF decompressor raises anything on damaged input
        return ""
    match = _ANSI_CODEPAGE.search(raw[:2048])
    codec = codec_name(f"cp{match.group(1).decode()}") if match else None
    text = rtf_to_text(raw.decode("latin-1"), encoding=codec or "cp1252", errors="replace")
    # Outlook wraps HTML in RTF (\fromhtml1); striprtf leaves the tags in place.
    return html_to_text(text) if "<html" in text[:2000].lower() else text.replace("\r\n", "\n")
