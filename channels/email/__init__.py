"""The e-mail channel: SMTP server and IMAP poller in, parsing in the worker, SMTP relay out."""

from __future__ import annotations

from functools import partial

from channels.base import ChannelConfig, ChannelSpec
from channels.email.keys import external_id, minimal_message
from channels.email.parse import ParsedEmail, parse_email, parse_raw
from channels.email.send import EmailSender
from channels.email.settings import EmailSettings, ImapMailbox, load_email_settings

__all__ = [
    "EmailSettings",
    "ImapMailbox",
    "ParsedEmail",
    "build",
    "external_id",
    "load_email_settings",
    "minimal_message",
    "parse_email",
]


def build(config: ChannelConfig, settings: EmailSettings | None = None) -> ChannelSpec:
    """The registry's entry point: the sender and the worker's raw parser, settings read once."""
    settings = settings or load_email_settings()
    parser = partial(
        parse_raw,
        attachments_dir=config.data_dir / "attachments",
        max_attachment_bytes=settings.email_max_attachment_bytes,
        max_total_attachment_bytes=settings.email_max_total_attachment_bytes,
    )
    return ChannelSpec(
        name="email",
        send=EmailSender(settings).send,
        parse_raw=parser,
        # Without a relay there is nowhere to send: the outbox marks such mail suppressed.
        settings=settings,
        enabled=bool(settings.smtp_relay_host),
    )
