"""Rendering the workspace: the Jinja2 environment, its filters, and who is signed in."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from api.agent import i18n
from api.agent.session import AgentSession, signed_in
from models.db import User
from models.types import utcnow
from router.runtime import Runtime

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATIC = "/static/agent"


def left(due: datetime | None, now: datetime | None = None) -> str:
    """Time to `due` as `2d 3h`, `3h 05m` or `12m`; negative (overdue) with a minus sign."""
    if due is None:
        return "—"
    delta = due - (now or utcnow())
    sign = "-" if delta < timedelta(0) else ""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {mins:02d}m"
    return f"{sign}{mins}m"


def stamp(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


# Pages hold requesters' data (no caching) and buttons that act (never inside a frame).
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

TEMPLATES.env.filters["left"] = left
TEMPLATES.env.filters["stamp"] = stamp


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    agent: tuple[User, AgentSession] | None = None,
) -> HTMLResponse:
    lang = i18n.pick(request)
    base = {
        "t": i18n.translator(lang),
        "lang": lang,
        "static": STATIC,
        "user": agent[0] if agent else None,
        "csrf": agent[1].csrf if agent else "",
        "now": utcnow(),
    }
    response = TEMPLATES.TemplateResponse(request, name, {**base, **context}, status_code=status)
    response.headers.update(HEADERS)
    return response


def who(request: Request, runtime: Runtime, session: Session) -> tuple[User, AgentSession] | None:
    return signed_in(request, runtime.secret_key, session)


def to_login(request: Request | None = None) -> Response:
    """To the sign-in page; an htmx poll is told to load it as a whole page."""
    if request is not None and request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": "/agent/login"})
    return RedirectResponse("/agent/login", status_code=303)
