"""E-mail channel settings (env prefix OKNO_), read once by the CLI or the registry and passed in."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.settings import read_settings

MB = 1024 * 1024


class ImapMailbox(BaseModel):
    """One mailbox the IMAP poller watches; `address` is the helpdesk address mail was sent to."""

    host: str
    port: int = 143
    user: str
    password: SecretStr
    address: str | None = None
    folder: str = "INBOX"
    ssl: bool = False
    starttls: bool = False
    after: Literal["flag", "move", "delete"] = "flag"
    move_to: str | None = None
    ca_file: str | None = None

    @model_validator(mode="after")
    def _move_needs_target(self) -> ImapMailbox:
        if self.after == "move" and not self.move_to:
            raise ValueError('after="move" needs move_to (the folder processed mail goes to)')
        return self

    @property
    def mailbox_address(self) -> str:
        """The address that goes into the idempotency key; the login is the usual fallback."""
        return (self.address or self.user).strip().lower()

    @property
    def state_key(self) -> str:
        """ChannelState key and lock name: one per server account and folder."""
        return f"email:imap:{self.user.lower()}@{self.host.lower()}:{self.port}/{self.folder}"


class EmailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OKNO_", extra="ignore")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=8025, ge=0, le=65535)
    # Plain strings, not lists: pydantic-settings would demand JSON for list types from env.
    email_addresses: str = "helpdesk@ssc.example.com"
    email_domains: str = ""
    smtp_max_bytes: int = Field(default=25 * MB, ge=1024)
    # aiosmtpd's own log ("mail.log") at INFO: every connection and every command line of every
    # session (sender and recipients included). Off: it logs warnings only, and Okno's one line
    # per stored mail stays. At OKNO_LOG_LEVEL=INFO (the default) that chatter cost 1.12-1.20
    # against 0.89-0.94 ms of the server's CPU a mail (8 sessions, 1,000 mails, load 0.6).
    smtp_protocol_log: bool = False
    email_max_attachment_bytes: int = Field(default=10 * MB, ge=0)
    email_max_total_attachment_bytes: int = Field(default=20 * MB, ge=0)
    email_from: str = "Okno <helpdesk@ssc.example.com>"
    smtp_relay_host: str | None = None
    smtp_relay_port: int = Field(default=25, ge=1, le=65535)
    smtp_relay_user: str | None = None
    smtp_relay_password: SecretStr | None = None
    smtp_relay_starttls: bool = False
    smtp_relay_ssl: bool = False
    smtp_relay_timeout: float = Field(default=30.0, gt=0)
    imap_mailboxes: list[ImapMailbox] = Field(default_factory=list)
    imap_poll_seconds: int = Field(default=60, ge=1)

    @model_validator(mode="after")
    def _from_has_address(self) -> EmailSettings:
        if "@" not in parseaddr(self.email_from)[1]:
            raise ValueError("OKNO_EMAIL_FROM must contain an e-mail address")
        return self

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset(_split(self.email_addresses))

    @property
    def domains(self) -> frozenset[str]:
        return frozenset(d.lstrip("@") for d in _split(self.email_domains))

    @property
    def from_address(self) -> str:
        return parseaddr(self.email_from)[1].lower()

    @property
    def message_id_domain(self) -> str:
        return self.from_address.rsplit("@", 1)[1]

    def accepts(self, address: str) -> bool:
        """True when mail to `address` is ours: a listed address or any address on a listed domain."""
        address = address.strip().strip("<>").lower()
        if address in self.addresses:
            return True
        _, _, domain = address.rpartition("@")
        return bool(domain) and domain in self.domains


def _split(value: str) -> list[str]:
    return [part.strip().lower() for part in value.split(",") if part.strip()]


def load_email_settings(**overrides: object) -> EmailSettings:
    """Read and validate once; a bad value raises SettingsError naming the variable."""
    return read_settings(EmailSettings, **overrides)
