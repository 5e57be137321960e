"""Outlook's TNEF (winmail.dat): the plain body and the files it wraps, when it carries them."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

SIGNATURE = 0x223E9F78
_ATT_BODY = 0x0002800C  # attBody, atpText
_ATT_ATTACH_TITLE = 0x00018010  # attAttachTitle, atpString
_ATT_ATTACH_DATA = 0x0006800F  # attAttachData, atpByte
_ATT_ATTACH_REND = 0x00069002  # attAttachRendData: a new attachment starts
_LEVEL_ATTACHMENT = 2
_MAX_OBJECTS = 10_000


@dataclass
class TnefFile:
    name: str = ""
    data: bytes = b""


@dataclass
class Tnef:
    """What a winmail.dat holds that Okno can read."""

    body: str = ""
    files: list[TnefFile] = field(default_factory=list)


def is_tnef(data: bytes) -> bool:
    return len(data) >= 6 and struct.unpack_from("<I", data)[0] == SIGNATURE


def parse_tnef(data: bytes) -> Tnef:
    """Walk the TNEF attribute stream; a truncated stream yields what came before the damage."""
    result = Tnef()
    pos = 6  # signature (4) and legacy key (2)
    for _ in range(_MAX_OBJECTS):
        if pos + 9 > len(data):
            break
        level, attribute, length = struct.unpack_from("<BII", data, pos)
        value = data[pos + 9 : pos + 9 + length]
        pos += 9 + length + 2  # the checksum
        _take(result, level, attribute, value)
    result.files = [f for f in result.files if f.data]
    return result


def _take(result: Tnef, level: int, attribute: int, value: bytes) -> None:
    if attribute == _ATT_BODY:
        result.body = value.rstrip(b"\0").decode("cp1252", "replace")
    elif level == _LEVEL_ATTACHMENT and attribute == _ATT_ATTACH_REND:
        result.files.append(TnefFile())
    elif level == _LEVEL_ATTACHMENT and result.files and attribute == _ATT_ATTACH_TITLE:
        result.files[-1].name = value.rstrip(b"\0").decode("cp1252", "replace")
    elif level == _LEVEL_ATTACHMENT and result.files and attribute == _ATT_ATTACH_DATA:
        result.files[-1].data = value
