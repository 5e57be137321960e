"""Web form channel: intake is the HTTP endpoint; its 'sender' records updates for the status page."""

from __future__ import annotations

from channels.base import ChannelConfig, ChannelSpec
from models.types import Notification, SendResult


def send(notification: Notification) -> SendResult:
    """The outbox row itself is what the status page shows; delivering is recording it as sent."""
    return SendResult(ok=True, external_id=f"webform:{notification.id}")


def build(config: ChannelConfig) -> ChannelSpec:
    return ChannelSpec(name="webform", send=send, local=True)
