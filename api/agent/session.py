"""The workspace's sign-in: a signed, HttpOnly, SameSite=Lax cookie and a CSRF token per session.

The cookie holds the user id, a fingerprint of their API token (re-issuing or revoking the
token ends every session made with it), the expiry and the session's CSRF token, signed with
HMAC-SHA256 under the runtime's secret key. Nothing secret is in it: the signature is what
makes it trustworthy, and the server keeps no session table.

SSO (OIDC) would plug in beside `/agent/login`: a callback that verifies the provider's ID
token, finds the active user by its e-mail, and calls `issue()` exactly as the token form does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from fastapi import Request, Response
from sqlalchemy.orm import Session

from models.db import User

COOKIE = "okno_agent"
LOGIN_CSRF_COOKIE = "okno_agent_login"
PURPOSE = b"okno-agent-session:"


@dataclass(frozen=True)
class AgentSession:
    user_id: int
    token_fp: str
    expires: float
    csrf: str


def _sign(key: bytes, payload: bytes) -> str:
    return hmac.new(key, PURPOSE + payload, hashlib.sha256).hexdigest()


def fingerprint(token_hash: str | None) -> str:
    return (token_hash or "")[:16]


def encode(key: bytes, data: AgentSession) -> str:
    raw = json.dumps([data.user_id, data.token_fp, data.expires, data.csrf]).encode()
    payload = base64.urlsafe_b64encode(raw).rstrip(b"=")
    return payload.decode() + "." + _sign(key, payload)


def decode(key: bytes, value: str, *, now: float | None = None) -> AgentSession | None:
    """The session in a cookie, or None when it is forged, malformed or expired."""
    payload, _, signature = value.partition(".")
    if not hmac.compare_digest(_sign(key, payload.encode()), signature):
        return None
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        user_id, token_fp, expires, csrf = json.loads(raw)
        data = AgentSession(int(user_id), str(token_fp), float(expires), str(csrf))
    except (ValueError, TypeError):
        return None
    return data if data.expires > (now or time.time()) else None


def issue(response: Response, key: bytes, user: User, *, hours: float, secure: bool) -> None:
    data = AgentSession(
        user.id, fingerprint(user.token_hash), time.time() + hours * 3600, secrets.token_hex(16)
    )
    response.set_cookie(
        COOKIE,
        encode(key, data),
        max_age=int(hours * 3600),
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


def end(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")


def signed_in(request: Request, key: bytes, session: Session) -> tuple[User, AgentSession] | None:
    """The active user of this request's cookie, with their session; None when signed out."""
    value = request.cookies.get(COOKIE)
    data = decode(key, value) if value else None
    if data is None:
        return None
    user = session.get(User, data.user_id)
    if user is None or not user.active or not user.token_hash:
        return None
    if fingerprint(user.token_hash) != data.token_fp:
        return None
    return user, data


def csrf_ok(expected: str, sent: str | None) -> bool:
    return bool(expected) and sent is not None and hmac.compare_digest(expected, sent)
