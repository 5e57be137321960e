"""Messages the tests feed intake."""

from __future__ import annotations

from models.types import Channel, IncomingMessage


def form(external_id: str, **kw: object) -> IncomingMessage:
    """A web-form request for an HR certificate; `kw` overrides any field."""
    fields: dict[str, object] = {
        "channel": Channel.webform,
        "external_id": external_id,
        "text": "Нужна справка",
        "sender_address": "ivan@corp.example.com",
        "service_hint": "hr_certificate",
    }
    fields.update(kw)
    return IncomingMessage.model_validate(fields)
