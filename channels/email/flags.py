"""Recognising mail no human wrote: auto-replies (RFC 3834 and vendors' ways) and bounces (DSN)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message

from channels.email.headers import (
    has_header,
    header_text,
    message_id_list,
    parse_header_block,
    raw_header,
    raw_headers,
)
from models.types import TICKET_REF

_AUTO_SUBJECT = re.compile(
    r"^\s*(\[[^\]]*\]\s*)?("
    r"automatic reply|auto(matic)?[- ]?reply|auto[- ]?response|autoreply|"
    r"out of (the )?office|ooo\b|away from (the )?office|on vacation|vacation reply|"
    r"автоматический ответ|автоответ|нет на месте|вне офиса|не в офисе|"
    r"отсутствую|отсутствие на рабочем месте|в отпуске|я в отпуске"
    r")",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(undeliver(ed|able)|undelivered mail returned to sender|"
    r"mail delivery (failed|failure|system)|delivery status notification \((failure|delay)\)|"
    r"delivery (failure|has failed|notification)|returned mail|failure notice|"
    r"mail system error|non[- ]?delivery|не доставлено|недоставлен|недоставленное|"
    r"невозможно доставить|сообщение не доставлено|ошибка доставки)",
    re.IGNORECASE,
)
_DAEMON_LOCAL = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|maildelivery)(\+.*)?$", re.I)
_DAEMON_NAME = re.compile(r"mail delivery (subsystem|system)|mailer-daemon", re.IGNORECASE)
_PRECEDENCE_AUTO = {"auto_reply", "bulk", "junk"}
# Headers Exchange and others add to generated mail; alone X-Auto-Response-Suppress is not
# enough (Outlook puts it on meeting requests and ordinary mail), with one of these it is.
_EXCHANGE_AUTO = ("X-MS-Exchange-Inbox-Rules-Loop", "X-MS-Exchange-Generated-Message-Source")
_ID_LINE = re.compile(r"^\s*(?:original-)?message-id:\s*(<[^<>\s]+>)", re.IGNORECASE | re.M)
_QUOTED_REF_LINE = re.compile(r"^(?:x-okno-ticket|subject):.*$", re.IGNORECASE | re.MULTILINE)
_FAILED_ADDRESS = re.compile(r"^\s{1,4}<?([^\s<>@]+@[^\s<>@]+\.[^\s<>@]+)>?\s*$", re.MULTILINE)
_FAILED_INTRO = re.compile(r"(following address(es)?\s*failed|could not be delivered to)", re.I)


def _first_word(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def is_auto_submitted(msg: Message, subject: str) -> bool:
    """True for mail an automaton sent: out-of-office, vacation, list bulk, read receipts."""
    auto = raw_header(msg, "Auto-Submitted")
    if auto is not None and _first_word(auto) not in ("", "no"):
        return True
    if any(has_header(msg, h) for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        return True
    if _first_word(raw_header(msg, "Precedence") or "") in _PRECEDENCE_AUTO:
        return True
    if has_header(msg, "X-Auto-Response-Suppress") and (
        any(has_header(msg, h) for h in _EXCHANGE_AUTO)
        or (raw_header(msg, "Return-Path") or "").strip() == "<>"
    ):
        return True
    if msg.get_content_type() == "multipart/report":
        return True  # delivery reports and read receipts (disposition-notification) alike
    return bool(_AUTO_SUBJECT.match(subject))


def is_bounce(msg: Message, sender: str | None, sender_name: str | None, subject: str) -> bool:
    """True for delivery-status notifications, whoever produced them."""
    report_type = str(msg.get_param("report-type") or "").lower()
    if msg.get_content_type() == "multipart/report" and report_type == "delivery-status":
        return True
    local = (sender or "").rpartition("@")[0]
    if _DAEMON_LOCAL.match(local) or _DAEMON_NAME.search(sender_name or ""):
        return True
    if has_header(msg, "X-Failed-Recipients"):
        return True
    return bool(_BOUNCE_SUBJECT.match(subject))


@dataclass
class BounceInfo:
    """What a bounce tells about the mail that failed: its ids, recipients and our ticket."""

    message_ids: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    ticket_ref: str | None = None

    def add_ids(self, ids: list[str]) -> None:
        self.message_ids.extend(i for i in ids if i not in self.message_ids)

    def add_recipient(self, address: str) -> None:
        address = address.strip().strip("<>").lower()
        if "@" in address and address not in self.recipients:
            self.recipients.append(address)


def bounce_info(msg: Message, body_text: str) -> BounceInfo:
    """Original Message-IDs, failed recipients and ticket number from a DSN or a plain bounce."""
    info = BounceInfo()
    for value in raw_headers(msg, "X-Failed-Recipients"):
        for address in value.split(","):
            info.add_recipient(address)
    for part in msg.walk():
        _from_part(part, info)
    # Plain-text bounces (older Exim, qmail) quote the original headers inside the text.
    info.add_ids([i.lower() for i in _ID_LINE.findall(body_text)])
    if info.ticket_ref is None:
        info.ticket_ref = find_ticket_ref(*_QUOTED_REF_LINE.findall(body_text))
    if _FAILED_INTRO.search(body_text):
        for address in _FAILED_ADDRESS.findall(body_text):
            info.add_recipient(address)
    return info


def _from_part(part: Message, info: BounceInfo) -> None:
    ctype = part.get_content_type()
    if ctype == "message/rfc822" and part.is_multipart():
        inner = part.get_payload(0)
        if isinstance(inner, Message):
            _from_original_headers(inner, info)
    elif ctype == "text/rfc822-headers":
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            _from_original_headers(parse_header_block(data), info)
    elif ctype == "message/delivery-status" and part.is_multipart():
        for block in part.get_payload():
            if isinstance(block, Message):
                _from_status_block(block, info)


def _from_original_headers(headers: Message, info: BounceInfo) -> None:
    info.add_ids(message_id_list(raw_header(headers, "Message-ID")))
    if info.ticket_ref is None:
        info.ticket_ref = find_ticket_ref(
            header_text(headers, "X-Okno-Ticket"), header_text(headers, "Subject")
        )


def _from_status_block(block: Message, info: BounceInfo) -> None:
    # Per-recipient blocks: only those that failed (not 'delayed' or 'delivered') count.
    action = _first_word(raw_header(block, "Action") or "failed")
    value = raw_header(block, "Final-Recipient") or raw_header(block, "Original-Recipient")
    if value and action == "failed":
        info.add_recipient(value.split(";", 1)[-1])


def find_ticket_ref(*candidates: str | None) -> str | None:
    """Our ticket number ('OKNO-000123') in the first candidate text that carries one."""
    for text in candidates:
        match = TICKET_REF.search(text or "")
        if match:
            return match.group(1).upper()
    return None
