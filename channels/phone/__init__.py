"""Phone channel: the PBX posts call transcripts in; notifications go out by SMS."""

from __future__ import annotations

from channels.base import ChannelConfig, ChannelSpec
from channels.phone.settings import PhoneSettings, load_phone_settings
from channels.phone.sms import SmsSender

__all__ = ["PhoneSettings", "build", "settings_of"]


def build(config: ChannelConfig) -> ChannelSpec:
    """Read the phone settings once; the webhook finds them on the spec, the sender keeps them."""
    settings = load_phone_settings()
    return ChannelSpec(
        name="phone",
        send=SmsSender(settings, public_url=config.public_url),
        settings=settings,
    )


def settings_of(spec: ChannelSpec) -> PhoneSettings:
    settings = spec.settings
    assert isinstance(settings, PhoneSettings)
    return settings
