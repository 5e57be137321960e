"""parse_email over every fixture, the `okno email parse` command, build() and parse_raw."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from channels.base import ChannelConfig
from channels.blobs import stored_path
from channels.email import build, external_id, minimal_message, parse_email
from channels.email.settings import EmailSettings
from models.types import ParseError
from scripts.email_cli import email
from tests.support.mail import FIXTURES, HELPDESK, fixture_bytes

LIMIT = 100_000  # the per-file attachment limit these tests use (the scan fixture is bigger)

# file → expected fields; "text" entries must equal, "contains"/"absent" are substrings.
EXPECTED: dict[str, dict[str, Any]] = {
    "outlook_reply_cp1251.eml": {
        "from_email": "ivan.petrov@branch.example.ru",
        "from_display_name": "Петров Иван Сергеевич",
        "subject": "RE: [OKNO-000123] Ваше обращение зарегистрировано",
        "text": "Добрый день!\n\nVPN всё ещё не подключается, ошибка 809. Перезагрузка ноутбука "
        "не помогла.\nРаботаю из дома, нужен доступ к 1С до конца дня.",
        "language": "ru",
        "ticket_ref": "OKNO-000123",
        "in_reply_to": "<okno-000123.5d41402abc4b2a76@ssc.example.com>",
        "references": ["<okno-000123.5d41402abc4b2a76@ssc.example.com>"],
    },
    "gmail_reply_en.eml": {
        "from_email": "john.smith.branch@gmail.com",
        "from_display_name": "John Smith",
        "language": "en",
        "ticket_ref": "OKNO-000457",
        "contains": ["label printer in warehouse 2", "Thanks,\nJohn"],
        "absent": ["wrote:", "Your request is registered", "Logistics coordinator"],
    },
    "apple_mail_flowed_ru.eml": {
        "from_display_name": "Ольга Кузнецова",
        "subject": "Re: Пропуск для нового сотрудника",
        "text": "Здравствуйте! У нового сотрудника отдела продаж Марии Соколовой с понедельника "
        "нет пропуска в офис на Ленинградском проспекте. Прошу оформить временный пропуск "
        "на две недели.",
        "ticket_ref": "OKNO-000512",
    },
    "plain_cp1251.eml": {
        "from_display_name": "Смирнова Анна",
        "subject": "Справка 2-НДФЛ для банка",
        "contains": ["Прошу подготовить справку 2-НДФЛ за 2024 год", "Табельный номер 004512"],
        "language": "ru",
    },
    "plain_koi8r.eml": {
        "from_display_name": "Сергей Волков",
        "subject": "Не печатает принтер",
        "contains": ["не печатает сетевой принтер HP LaserJet"],
        "absent": ["Сергей Волков"],  # the "-- " signature is cut
    },
    "mislabelled_charset.eml": {
        "subject": "Не пришла зарплата за февраль",
        "contains": ["Не приходит зарплата за февраль, в расчётном листке начисление есть."],
    },
    "8bit_headers.eml": {
        "from_display_name": "Кузьмин Павел",
        "subject": "Замена картриджа в кабинете 305",
        "text": "Закончился картридж в принтере Kyocera в кабинете 305, нужна замена.",
    },
    "forward_outlook_ru.eml": {
        "subject": "FW: RE: Счёт на оплату канцтоваров",
        "contains": ["прошу оплатить счёт поставщика", "счёт № 1577", "по заявке 2231"],
    },
    "forward_gmail_en.eml": {
        "contains": ["Can logistics\ntake this over?", "shipment FF-20931 is held at customs"],
        "language": "en",
    },
    "ooo_exchange_ru.eml": {"auto_submitted": True, "bounce": False, "ticket_ref": "OKNO-000123"},
    "ooo_exchange_en.eml": {
        "auto_submitted": True,
        "contains": ["I am out of the office until March 10"],
    },
    "ooo_gmail_en.eml": {"auto_submitted": True, "bounce": False, "ticket_ref": "OKNO-000459"},
    "ooo_gmail_ru.eml": {"auto_submitted": True, "subject": "Нет на месте"},
    "bounce_postfix.eml": {
        "bounce": True,
        "auto_submitted": True,
        "bounced_message_ids": ["<okno-000123.5d41402abc4b2a76@ssc.example.com>"],
        "bounced_recipients": ["ivan.petroff@branch.example.ru"],
        "ticket_ref": "OKNO-000123",
        "attachments": [],
    },
    "bounce_exim.eml": {
        "bounce": True,
        "bounced_message_ids": ["<okno-000124.aa11bb22cc33dd44@ssc.example.com>"],
        "bounced_recipients": ["s.volkoff@branch.example.ru"],
        "ticket_ref": "OKNO-000124",
    },
    "bounce_exchange.eml": {
        "bounce": True,
        "bounced_message_ids": ["<okno-000125.99ee88dd77cc66bb@ssc.example.com>"],
        "bounced_recipients": ["m.sokolova@corp.example.ru"],
        "ticket_ref": "OKNO-000125",
        "contains": ["Не удалось доставить сообщение"],
    },
    "broken_mime.eml": {
        "text": "Hello, the scanner on floor 3 stopped sending scans to e-mail since Monday.\n"
        "Error on the panel: SMTP connection failed.",
        "notes_contain": "broken MIME",
    },
    "html_only_owa_ru.eml": {
        "text": "Добрый день!\n\nПрошу предоставить доступ к папке \\\\fs01\\Finance\\Reports на "
        "чтение & запись.\nСогласовано с руководителем — А. Н. Белов.\n"
        "- логин: n.egorova\n- срок: бессрочно",
    },
    "no_message_id.eml": {"from_display_name": "1C:Enterprise", "message_id": None},
}
NEGATIVE = {"auto_submitted": False, "bounce": False}


def parse_fixture(name: str, **kwargs: Any) -> Any:
    return parse_email(fixture_bytes(name), mailbox=HELPDESK, max_attachment_bytes=LIMIT, **kwargs)


def test_every_fixture_has_expectations() -> None:
    on_disk = {p.name for p in FIXTURES.glob("*.eml")}
    assert on_disk == set(EXPECTED) | {"attachments.eml"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_fields(name: str) -> None:
    expected = EXPECTED[name]
    parsed = parse_fixture(name).as_dict()
    human = not name.startswith(("ooo_", "bounce_"))
    for key, value in ({**NEGATIVE, **expected} if human else expected).items():
        if key == "contains":
            assert all(piece in parsed["text"] for piece in value), parsed["text"]
        elif key == "absent":
            assert not any(piece in parsed["text"] for piece in value), parsed["text"]
        elif key == "notes_contain":
            assert any(value in note for note in parsed["notes"]), parsed["notes"]
        else:
            assert parsed[key] == value, key


def test_attachments_stored_by_content_hash(tmp_path: Path) -> None:
    parsed = parse_fixture("attachments.eml", attachments_dir=tmp_path)
    by_name = {a.name: a for a in parsed.attachments}
    assert set(by_name) == {
        "image001.png",
        "Счёт №1577.pdf",
        "Акт сверки.docx",
        "scan_dogovor.tiff",
    }
    pdf = by_name["Счёт №1577.pdf"]
    assert pdf.content_type == "application/pdf"
    assert stored_path(tmp_path, pdf.stored_key or "").read_bytes().startswith(b"%PDF-1.4")
    assert pdf.stored_key and pdf.stored_key.split("/")[1].startswith(pdf.stored_key[:2])
    scan = by_name["scan_dogovor.tiff"]
    assert scan.stored_key is None and scan.size == 120_000 and "dropped" in (scan.note or "")
    assert any("scan_dogovor.tiff" in note for note in parsed.notes)
    assert parsed.text.startswith("Добрый день! Во вложении счёт")


def test_total_attachment_budget_drops_what_does_not_fit() -> None:
    parsed = parse_email(
        fixture_bytes("attachments.eml"),
        max_attachment_bytes=LIMIT,
        max_total_attachment_bytes=3000,
    )
    kept = [a.name for a in parsed.attachments if a.note is None]
    assert kept == ["image001.png", "Счёт №1577.pdf"]
    assert any("per-message limit" in note for note in parsed.notes)


@pytest.mark.parametrize(
    "raw", [b"", b"   \r\n", fixture_bytes("not_an_email.bin"), b"\x00\x01\x02binary"]
)
def test_not_a_mail_raises_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_email(raw)


def test_to_incoming_carries_flags_in_meta() -> None:
    message = parse_fixture("bounce_postfix.eml").to_incoming("key-1")
    assert message.external_id == "key-1" and message.channel == "email"
    assert message.meta["bounce"] is True and message.meta["auto_submitted"] is True
    assert message.meta["bounced_message_ids"] == ["<okno-000123.5d41402abc4b2a76@ssc.example.com>"]
    assert message.meta["mailbox"] == HELPDESK and message.ticket_ref == "OKNO-000123"


def test_build_parse_raw_keeps_key_and_meta_of_the_minimal_message(tmp_path: Path) -> None:
    settings = EmailSettings(email_max_attachment_bytes=LIMIT)
    spec = build(ChannelConfig(data_dir=tmp_path), settings)
    raw = fixture_bytes("attachments.eml")
    minimal = minimal_message(raw, mailbox=HELPDESK, source="smtp")
    minimal.meta["notes"] = ["from intake"]
    assert spec.parse_raw is not None
    full = spec.parse_raw(raw, minimal)
    assert full.external_id == minimal.external_id == external_id(raw, HELPDESK)
    assert full.received_at == minimal.received_at
    assert full.meta["source"] == "smtp" and full.meta["mailbox"] == HELPDESK
    assert full.meta["notes"][0] == "from intake" and len(full.meta["notes"]) == 2
    assert full.subject == "Документы на оплату" and full.language == "ru"
    stored = [a for a in full.attachments if a.stored_key]
    assert stored and all((tmp_path / "attachments" / str(a.stored_key)).exists() for a in stored)


def test_cli_parse_prints_one_json_object() -> None:
    result = CliRunner().invoke(email, ["parse", str(FIXTURES / "outlook_reply_cp1251.eml")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in (
        "from_email",
        "from_display_name",
        "subject",
        "text",
        "language",
        "attachments",
        "auto_submitted",
        "bounce",
        "in_reply_to",
        "references",
        "ticket_ref",
    ):
        assert key in data
    assert data["ticket_ref"] == "OKNO-000123" and data["language"] == "ru"
    assert data["external_id"] == "8f2c1e5a9b7d4c3e8a1f0b2d6e4c9a7b@exch01.branch.example.ru"


def test_cli_parse_lists_attachments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKNO_EMAIL_MAX_ATTACHMENT_BYTES", str(LIMIT))
    result = CliRunner().invoke(
        email, ["parse", "--mailbox", HELPDESK, str(FIXTURES / "attachments.eml")]
    )
    data = json.loads(result.output)
    assert {a["name"] for a in data["attachments"]} >= {"Счёт №1577.pdf", "scan_dogovor.tiff"}
    assert all({"name", "content_type", "size"} <= set(a) for a in data["attachments"])
    assert data["external_id"] == f"{HELPDESK}|attach-20250306-1345@branch.example.ru"


def test_cli_parse_error_is_json_and_nonzero() -> None:
    result = CliRunner().invoke(email, ["parse", str(FIXTURES / "not_an_email.bin")])
    assert result.exit_code == 1
    assert "ParseError" in json.loads(result.output)["error"]


def test_cli_parse_reads_many_files_and_directories_as_jsonl(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "empty.eml").write_bytes(b"From: a@x.example\r\nSubject:\r\n\r\n")
    one = FIXTURES / "plain_koi8r.eml"
    result = CliRunner().invoke(email, ["parse", "--jsonl", str(one), str(tmp_path)])
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(d["file"], d["status"]) for d in lines] == [
        (str(one), "parsed"),
        (str(tmp_path / "sub" / "empty.eml"), "rejected"),
    ]
    assert lines[0]["subject"] == "Не печатает принтер" and "empty mail" in lines[1]["error"]
    assert result.exit_code == 1  # an input was rejected


def test_cli_parse_module_imports_no_server_or_model_code() -> None:
    code = (
        "import sys, scripts.email_cli; "
        "print(sorted(m for m in ('fastapi', 'sklearn', 'aiogram', 'aiosmtpd', 'router') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
