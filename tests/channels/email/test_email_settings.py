"""EmailSettings read from the environment as operators write it."""

from __future__ import annotations

import json

import pytest

from channels.email import load_email_settings
from models.settings import SettingsError


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OKNO_EMAIL_ADDRESSES", "OKNO_EMAIL_DOMAINS", "OKNO_IMAP_MAILBOXES"):
        monkeypatch.delenv(name, raising=False)
    settings = load_email_settings()
    assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", 8025)
    assert settings.addresses == {"helpdesk@ssc.example.com"} and settings.domains == set()
    assert settings.smtp_max_bytes == 25 * 1024 * 1024
    assert settings.smtp_relay_host is None and settings.imap_mailboxes == []
    assert settings.message_id_domain == "ssc.example.com"


def test_comma_separated_lists_and_json_mailboxes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKNO_EMAIL_ADDRESSES", "Helpdesk@ssc.example.com, hr@ssc.example.com")
    monkeypatch.setenv("OKNO_EMAIL_DOMAINS", "it.ssc.example.com,@fin.ssc.example.com")
    mailboxes = [
        {
            "host": "imap.example.com",
            "port": 993,
            "user": "hd",
            "password": "s3cr3t-pw",
            "ssl": True,
            "address": "helpdesk@ssc.example.com",
        },
        {
            "host": "imap.example.com",
            "user": "hr",
            "password": "p",
            "after": "move",
            "move_to": "Done",
        },
    ]
    monkeypatch.setenv("OKNO_IMAP_MAILBOXES", json.dumps(mailboxes))
    monkeypatch.setenv("OKNO_SMTP_RELAY_STARTTLS", "true")
    settings = load_email_settings()
    assert settings.addresses == {"helpdesk@ssc.example.com", "hr@ssc.example.com"}
    assert settings.accepts("HR@ssc.example.com") and settings.accepts("anyone@fin.ssc.example.com")
    assert not settings.accepts("hr@elsewhere.example.com")
    first, second = settings.imap_mailboxes
    assert (
        first.ssl
        and first.password.get_secret_value() == "s3cr3t-pw"
        and "s3cr3t" not in repr(first)
    )
    assert second.mailbox_address == "hr" and second.folder == "INBOX"
    assert settings.smtp_relay_starttls is True


def test_move_without_target_is_a_named_error(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = [{"host": "h", "user": "u", "password": "p", "after": "move"}]
    monkeypatch.setenv("OKNO_IMAP_MAILBOXES", json.dumps(bad))
    with pytest.raises(SettingsError, match="OKNO_IMAP_MAILBOXES"):
        load_email_settings()
