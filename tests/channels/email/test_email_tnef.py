"""Outlook's winmail.dat: the files inside and the body, as tnefparse's own tests expect."""

from __future__ import annotations

import struct
from email.message import EmailMessage

import pytest

from channels.email import parse_email
from channels.email.tnef import SIGNATURE, parse_tnef
from tests.support.mail import FIXTURES

# file → (attachment names, has a body) from tnefparse's tests/test_decoding.py SPECS
EXPECTED = {
    "body.tnef": ([], True),
    "two-files.tnef": (["AUTHORS", "README"], False),
    "data-before-name.tnef": (["AUTOEXEC.BAT", "CONFIG.SYS", "boot.ini"], True),
    "multi-name-property.tnef": ([], False),
    "garbage-at-end.tnef": ([], False),
    "long-filename.tnef": (["allproductsmar2000.dat"], True),
    "multi-value-attribute.tnef": (["208225__5_seconds__Voice_Mail.mp3"], True),
    "one-file.tnef": (["AUTHORS"], False),
    "rtf.tnef": ([], True),
    "triples.tnef": ([], True),
    "unicode-mapi-attr-name.tnef": (
        ["spaconsole2.cfg", "image001.png", "image002.png", "image003.png"],
        True,
    ),
    "unicode-mapi-attr.tnef": (["example.dat"], True),
    "umlaut.tnef": (["TBZ PARIV GmbH.jpg", "image003.jpg", "UmlautAnhang-äüö.txt"], True),
    "IPM-DistList.tnef": (["Untitled Attachment"], True),
}


def outlook_mail(tnef: bytes) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "outlook.user@x.example", "Rich text from Outlook"
    msg.set_content("")
    msg.add_attachment(tnef, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return msg.as_bytes()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_winmail_dat_files_and_body(name: str) -> None:
    names, has_body = EXPECTED[name]
    parsed = parse_email(outlook_mail((FIXTURES / "tnef" / name).read_bytes()))
    assert [a.name for a in parsed.attachments] == names
    assert bool(parsed.text.strip()) is has_body
    assert not any("could not be read" in note for note in parsed.notes)


def test_rtf_body_is_read_as_text() -> None:
    parsed = parse_email(outlook_mail((FIXTURES / "tnef" / "long-filename.tnef").read_bytes()))
    assert parsed.text.startswith("I've attached a temp. license for QARun 4.7.")
    assert "\\par" not in parsed.text and "{" not in parsed.text


def test_damaged_winmail_dat_is_kept_as_a_file_with_a_note() -> None:
    broken = (FIXTURES / "tnef" / "umlaut.tnef").read_bytes()[:200]
    parsed = parse_email(outlook_mail(broken))
    assert parsed.subject == "Rich text from Outlook"
    assert [a.name for a in parsed.attachments] in (["winmail.dat"], [])


def test_crafted_counts_are_refused_not_looped_over() -> None:
    props = struct.pack("<I", 0xFFFFFFFF)  # four billion MAPI properties in four bytes
    stream = struct.pack("<IH", SIGNATURE, 1)
    stream += struct.pack("<BII", 1, 0x00069003, len(props)) + props + b"\0\0"
    tnef = parse_tnef(stream)
    assert tnef.damaged and "more MAPI properties than bytes" in tnef.damaged
    parsed = parse_email(outlook_mail(stream))
    assert any("could not be read" in note for note in parsed.notes)
    assert [a.name for a in parsed.attachments] == ["winmail.dat"]  # kept for a person
