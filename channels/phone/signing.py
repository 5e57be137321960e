"""X-Okno-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">, both directions."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from models.types import ChannelError

SIGNATURE_HEADER = "X-Okno-Signature"
# A signed request older (or newer) than this is a replay, whatever its signature.
REPLAY_WINDOW_S = 300


class InvalidSignature(ChannelError):
    """The signature header is missing, malformed or does not match the body."""


class StaleSignature(InvalidSignature):
    """The signature is right but its timestamp is outside the replay window."""


_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


def signature(secret: str, body: bytes, timestamp: int | str) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value for `body`, signed now (or at `timestamp`)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={signature(secret, body, stamp)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    window: int = REPLAY_WINDOW_S,
) -> int:
    """Check the header against the raw body; returns its timestamp or raises InvalidSignature."""
    if not header:
        raise InvalidSignature(f"{SIGNATURE_HEADER} header is missing")
    stamp, candidates = _parse(header)
    expected = signature(secret, body, stamp)
    # Several v1 values let the sender sign with an old and a new secret while rotating.
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise InvalidSignature("signature does not match the body")
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > window:
        raise StaleSignature(f"signature timestamp is outside the {window} s window")
    return int(stamp)


def _parse(header: str) -> tuple[str, list[str]]:
    """The timestamp as sent (the signed bytes) and every v1 candidate."""
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and _TIMESTAMP.fullmatch(value):
            timestamp = value
        elif key == "v1" and _HEX_SHA256.fullmatch(value.strip().lower()):
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates:
        raise InvalidSignature(f'{SIGNATURE_HEADER} must look like "t=<unix seconds>,v1=<hex>"')
    return timestamp, candidates
