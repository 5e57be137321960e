"""The SMS sender against a real local gateway: signed, retried by raising, refused for good."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from channels.phone.settings import load_phone_settings
from channels.phone.sms import SmsGatewayUnavailable, SmsSender
from models.settings import SettingsError
from models.types import Channel, Notification, NotificationKind
from tests.channels.phone.phone_servers import SmsGateway, serve_gateway

SECRET = "sms-gateway-secret-8b2d6e10"


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    with serve_gateway(SmsGateway(secret=SECRET)) as gw:
        yield gw


def sender(url: str | None, timeout: float = 5.0, secret: str | None = SECRET) -> SmsSender:
    settings = load_phone_settings(
        sms_gateway_url=url, sms_gateway_secret=secret, sms_timeout_s=timeout
    )
    return SmsSender(settings, public_url="https://okno.corp.example.com/")


def note(recipient: str = "+7 912 345-67-89", **extra: object) -> Notification:
    return Notification(
        id=7,
        ticket_number="OKNO-000042",
        kind=NotificationKind.status,
        channel=Channel.phone,
        recipient=recipient,
        language="ru",
        text="Статус обращения OKNO-000042 изменён: в работе.",
        extra=dict(extra),
    )


def test_sends_signed_json_and_keeps_the_gateway_id(gateway: SmsGateway) -> None:
    result = sender(gateway.url)(note())
    assert result.ok and result.external_id == "sms-1"
    (got,) = gateway.received
    assert got.signed and got.headers["idempotency-key"] == "okno-notify-7"
    assert got.json == {
        "to": "+79123456789",
        "text": "Статус обращения OKNO-000042 изменён: в работе.",
    }  # no keyed status_url given: no link rather than one the portal cannot open


def test_a_status_url_in_extra_is_the_link(gateway: SmsGateway) -> None:
    sender(gateway.url)(note(status_url="https://okno.corp.example.com/api/v1/messages/9"))
    assert gateway.received[0].json["text"].endswith("/api/v1/messages/9")


@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_server_errors_raise_so_rq_retries(gateway: SmsGateway, status: int) -> None:
    gateway.script = [status]
    with pytest.raises(SmsGatewayUnavailable, match=str(status)):
        sender(gateway.url)(note())


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_client_errors_are_permanent(gateway: SmsGateway, status: int) -> None:
    gateway.script = [status]
    result = sender(gateway.url)(note())
    assert not result.ok and result.permanent and str(status) in (result.error or "")


def test_a_wrong_secret_is_refused_by_the_gateway(gateway: SmsGateway) -> None:
    result = sender(gateway.url, secret="not-the-gateway-secret")(note())
    assert result.permanent and "401" in (result.error or "")
    assert gateway.received[0].signed is False


def test_timeout_raises(gateway: SmsGateway) -> None:
    gateway.delay_s = 0.5
    with pytest.raises(SmsGatewayUnavailable, match="Timeout"):
        sender(gateway.url, timeout=0.1)(note())


def test_connection_refused_raises() -> None:
    with socket.socket() as sock:  # a port nobody listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SmsGatewayUnavailable, match="ConnectError"):
        sender(f"http://127.0.0.1:{port}/sms")(note())


def test_unconfigured_gateway_or_bad_recipient_is_permanent(gateway: SmsGateway) -> None:
    assert sender(None)(note()).permanent
    with pytest.raises(SettingsError, match="without OKNO_SMS_GATEWAY_SECRET"):
        sender(gateway.url, secret=None)  # refused when the process starts, not at each SMS
    result = sender(gateway.url)(note(recipient="anonymous"))
    assert result.permanent and "not a phone number" in (result.error or "")
    assert gateway.received == []
