"""Outbound SMS through the company's gateway: signed JSON POST; 5xx and timeouts raise for RQ."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from channels.phone.settings import PhoneSettings
from channels.phone.signing import SIGNATURE_HEADER, sign
from channels.phone.smstext import sms_parts, sms_text
from models.types import ChannelError, InvalidPhoneNumber, Notification, SendResult, normalize_phone

log = logging.getLogger(__name__)

# Notifications that carry what a specialist wrote or asks: sent whole. The rest are notices
# (registered, status changed...) whose first sentences and the status link say enough.
WHOLE_KINDS = frozenset({"comment", "resolved", "clarify", "feedback_request"})

# Answers that mean "later": the job raises and RQ retries it with back-off.
TRANSIENT = frozenset({408, 425, 429})


class SmsGatewayUnavailable(ChannelError):
    """The gateway timed out, refused the connection or answered 5xx/429: worth retrying."""


class SmsSender:
    """The phone channel's `send`: one notification → one signed POST {to, text}."""

    def __init__(self, settings: PhoneSettings, *, public_url: str) -> None:
        self.settings = settings
        self.public_url = public_url.rstrip("/")

    def __call__(self, notification: Notification) -> SendResult:
        url, secret = self.settings.sms_gateway_url, self.settings.gateway_secret
        if not url or not secret:
            return _permanent("SMS gateway not configured (OKNO_SMS_GATEWAY_URL/_SECRET)")
        try:
            to = normalize_phone(notification.recipient).e164
        except InvalidPhoneNumber as exc:
            return _permanent(str(exc))
        result = SendResult(ok=False, error="nothing to send", permanent=True)
        first: str | None = None
        for index, text in enumerate(self.parts(notification)):
            body = json.dumps({"to": to, "text": text}, ensure_ascii=False).encode("utf-8")
            key = f"okno-notify-{notification.id}" + (f"-{index + 1}" if index else "")
            result = _result(self._post(url, secret, body, key), notification.id)
            if not result.ok:
                return result
            first = first or result.external_id
        return result.model_copy(update={"external_id": first}) if first else result

    def parts(self, notification: Notification) -> list[str]:
        """A person's words whole in numbered parts; our own notices short, with the link."""
        compose = sms_parts if notification.kind.value in WHOLE_KINDS else _one_text
        return compose(
            notification.text,
            number=notification.ticket_number,
            link=self.status_link(notification),
            language=notification.language,
        )

    def status_link(self, notification: Notification) -> str | None:
        """The keyed portal link the worker puts on every notification, or none at all.

        A bare ticket number is no link: ids are guessable, so the portal shows a request
        only with its key (router/status_link.py); the SMS then carries the number alone.
        """
        link = notification.extra.get("status_url")
        return str(link) if link else None

    def _post(self, url: str, secret: str, body: bytes, key: str) -> httpx.Response:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(secret, body),
            # Lets the gateway drop our retry of an SMS (or part) it did send before timing out.
            "Idempotency-Key": key,
        }
        try:
            return httpx.post(
                url, content=body, headers=headers, timeout=self.settings.sms_timeout_s
            )
        except httpx.TransportError as exc:
            raise SmsGatewayUnavailable(f"{type(exc).__name__}: {exc}") from exc


def _one_text(text: str, *, number: str, link: str | None, language: str) -> list[str]:
    return [sms_text(text, number=number, link=link, language=language)]


def _result(response: httpx.Response, notification_id: int) -> SendResult:
    code = response.status_code
    if code >= 500 or code in TRANSIENT:
        raise SmsGatewayUnavailable(f"SMS gateway answered {code}")
    if not 200 <= code < 300:
        log.warning("SMS gateway refused notification %s: %s", notification_id, code)
        return _permanent(f"SMS gateway refused: {code} {response.text[:200]}")
    return SendResult(ok=True, external_id=_gateway_id(response) or f"sms:{notification_id}")


def _gateway_id(response: httpx.Response) -> str | None:
    try:
        data: Any = response.json()
    except ValueError:
        return None
    value = (data.get("id") or data.get("message_id")) if isinstance(data, dict) else None
    return str(value)[:255] if value else None


def _permanent(error: str) -> SendResult:
    return SendResult(ok=False, error=error, permanent=True)
