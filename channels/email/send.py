"""Outbound e-mail: one notification to one requester through the configured SMTP relay."""

from __future__ import annotations

import html
import logging
import re
import secrets
import smtplib
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from channels.email.headers import bracketed
from channels.email.settings import EmailSettings
from models.types import TICKET_REF, Notification, SendResult, utcnow

log = logging.getLogger(__name__)

_URL = re.compile(r"https?://[^\s<>\"]+")
_AUTO_SUBMITTED = {"auto-generated", "auto-replied", "auto-notified"}


def new_message_id(ticket_number: str, domain: str) -> str:
    """A fresh '<okno-000123.…@domain>'; the number in it lets replies find the ticket."""
    local = f"{ticket_number or 'okno'}.{secrets.token_hex(8)}".lower()
    if not local.startswith("okno-"):
        local = f"okno-{local}"
    return f"<{local}@{domain.lower()}>"


def subject_with_ticket(subject: str, ticket_number: str) -> str:
    """The subject with '[OKNO-000123]' unless it already names the ticket."""
    subject = " ".join((subject or "").split())
    if not ticket_number or TICKET_REF.search(subject):
        return subject or ticket_number
    return f"[{ticket_number}] {subject}".strip()


def text_to_html(text: str) -> str:
    """A minimal escaped HTML rendering of the plain text, links clickable."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        escaped = html.escape(block)
        linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
        paragraphs.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        '<body style="font-family: Arial, sans-serif; font-size: 14px;">\n'
        + "\n".join(paragraphs)
        + "\n</body></html>\n"
    )


def build_message(notification: Notification, settings: EmailSettings) -> EmailMessage:
    """The MIME message for a notification: text plus HTML, threaded and marked automatic."""
    threading = notification.threading or {}
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = settings.email_from
    msg["Reply-To"] = settings.email_from
    msg["To"] = notification.recipient
    msg["Subject"] = subject_with_ticket(notification.subject, notification.ticket_number)
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = new_message_id(notification.ticket_number, settings.message_id_domain)
    in_reply_to = bracketed(threading.get("in_reply_to"))
    references = [r for r in (bracketed(x) for x in threading.get("references") or []) if r]
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        if in_reply_to not in references:
            references.append(in_reply_to)
    if references:
        msg["References"] = " ".join(references)
    auto = str(threading.get("auto_submitted") or "auto-generated").lower()
    msg["Auto-Submitted"] = auto if auto in _AUTO_SUBMITTED else "auto-generated"
    # Asks Exchange not to answer with out-of-office replies: fewer loops to break later.
    msg["X-Auto-Response-Suppress"] = "All"
    if notification.ticket_number:
        msg["X-Okno-Ticket"] = notification.ticket_number
    # base64 rather than 8bit: a relay without 8BITMIME must not mangle Cyrillic bodies.
    msg.set_content(notification.text, charset="utf-8", cte="base64")
    msg.add_alternative(
        notification.html or text_to_html(notification.text), subtype="html", cte="base64"
    )
    return msg


class EmailSender:
    """`send(notification) -> SendResult`: 5xx for the recipient is permanent, the rest raises."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    def send(self, notification: Notification) -> SendResult:
        if not self.settings.smtp_relay_host:
            return SendResult(ok=False, permanent=True, error="no relay configured")
        recipient = parseaddr(notification.recipient)[1]
        if "@" not in recipient:
            return SendResult(
                ok=False, permanent=True, error=f"not an e-mail address: {recipient!r}"
            )
        msg = build_message(notification, self.settings)
        try:
            self._deliver(msg, recipient)
        except smtplib.SMTPRecipientsRefused as exc:
            return _refused(exc)
        except smtplib.SMTPDataError as exc:
            if exc.smtp_code >= 500:
                return SendResult(ok=False, permanent=True, error=_describe(exc))
            raise
        return SendResult(ok=True, external_id=str(msg["Message-ID"]))

    def _deliver(self, msg: EmailMessage, recipient: str) -> None:
        s = self.settings
        assert s.smtp_relay_host
        context = ssl.create_default_context()
        host, port, timeout = s.smtp_relay_host, s.smtp_relay_port, s.smtp_relay_timeout
        smtp = (
            smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            if s.smtp_relay_ssl
            else smtplib.SMTP(host, port, timeout=timeout)
        )
        with smtp:
            if s.smtp_relay_starttls and not s.smtp_relay_ssl:
                smtp.starttls(context=context)
            if s.smtp_relay_user:
                password = s.smtp_relay_password.get_secret_value() if s.smtp_relay_password else ""
                smtp.login(s.smtp_relay_user, password)
            smtp.send_message(msg, from_addr=s.from_address, to_addrs=[recipient])
        log.info("sent %s to %s", msg["Message-ID"], recipient)


def _refused(exc: smtplib.SMTPRecipientsRefused) -> SendResult:
    codes = [code for code, _ in exc.recipients.values()]
    error = "; ".join(
        f"{rcpt}: {code} {_text(text)}" for rcpt, (code, text) in exc.recipients.items()
    )
    if codes and all(code >= 500 for code in codes):
        return SendResult(ok=False, permanent=True, error=error)
    raise exc  # 4xx: the relay asks to try again later, RQ's retry does that


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _describe(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}"
