"""Status links: who holds one may read what we wrote about the request; ids alone show less."""

from __future__ import annotations

import hashlib
import hmac


def status_key(secret: bytes, message_id: int) -> str:
    digest = hmac.new(secret, f"message:{message_id}".encode(), hashlib.sha256)
    # 64 bits: unguessable, and short enough to leave room for words in a 2-segment SMS.
    return digest.hexdigest()[:16]


def key_matches(secret: bytes, message_id: int, key: str | None) -> bool:
    """Compared as bytes: `compare_digest` refuses str with non-ASCII, and a key may be anything."""
    if key is None:
        return False
    expected = status_key(secret, message_id).encode()
    return hmac.compare_digest(key.encode("utf-8", "surrogatepass"), expected)


def api_url(public_url: str, secret: bytes, message_id: int) -> str:
    """The JSON status endpoint, as the intake endpoints answer it."""
    return f"{public_url}/api/v1/messages/{message_id}?key={status_key(secret, message_id)}"


def page_url(public_url: str, secret: bytes, message_id: int) -> str:
    """The portal's status page for a person (SMS, e-mail links)."""
    return f"{public_url}/?m={message_id}&key={status_key(secret, message_id)}"
