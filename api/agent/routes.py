"""The workspace's pages: sign-in and out, the language switch, and the queue."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.agent import i18n, session
from api.agent.web import render, to_login, who
from api.auth import user_by_token
from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError
from api.queue import QUEUE_ORDER, QueueFilters, queue_query
from api.tickets import summary
from models.db import Service, User
from models.types import OPEN_STATUSES

router = APIRouter(prefix="/agent", include_in_schema=False)

QUEUE_LIMIT = 200
Short = Annotated[str | None, Query(max_length=64)]


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    nonce = secrets.token_hex(16)
    response = render(request, "login.html", {"login_csrf": nonce, "error": None})
    response.set_cookie(
        session.LOGIN_CSRF_COOKIE, nonce, max_age=3600, httponly=True, samesite="lax"
    )
    return response


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    runtime: RuntimeDep,
    db: SessionDep,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    expected = request.cookies.get(session.LOGIN_CSRF_COOKIE, "")
    if not session.csrf_ok(expected, csrf):
        return render(request, "login.html", {"login_csrf": "", "error": "bad_csrf"}, status=403)
    user = user_by_token(token.strip(), session=db)
    if user is None:
        ctx = {"login_csrf": expected, "error": "bad_token"}
        return render(request, "login.html", ctx, status=401)
    response = RedirectResponse("/agent/", status_code=303)
    session.issue(
        response,
        runtime.secret_key,
        user,
        hours=runtime.settings.agent_session_hours,
        secure=runtime.settings.public_url.startswith("https://"),
    )
    response.delete_cookie(session.LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(
    request: Request,
    runtime: RuntimeDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    agent = who(request, runtime, db)
    if agent is not None and not session.csrf_ok(agent[1].csrf, csrf):
        return Response("CSRF token missing or wrong", status_code=403)
    response = to_login()
    session.end(response)
    return response


@router.get("/lang/{code}")
def switch_language(code: str, next: Annotated[str, Query(max_length=500)] = "/agent/") -> Response:
    target = next if next.startswith("/agent/") and "//" not in next else "/agent/"
    response = RedirectResponse(target, status_code=303)
    if code in i18n.LANGS:
        response.set_cookie(i18n.LANG_COOKIE, code, max_age=365 * 86400, samesite="lax")
    return response


def _filters(
    team: str | None, status: str | None, service: str | None, who_: str | None, q: str | None
) -> QueueFilters:
    return QueueFilters(
        status=[status] if status in {s.value for s in OPEN_STATUSES} else [],
        team=team or None,
        service=service or None,
        mine=who_ == "mine",
        unassigned=who_ == "unassigned",
        q=q or None,
    )


def _rows(db: Session, user: User, f: QueueFilters) -> list[dict[str, object]]:
    query = queue_query(db, user, f).order_by(*QUEUE_ORDER).limit(QUEUE_LIMIT)
    return [summary(t) for t in db.scalars(query)]


@router.get("/", response_class=HTMLResponse)
def queue_page(
    request: Request,
    runtime: RuntimeDep,
    db: SessionDep,
    team: Short = None,
    status: Short = None,
    service: Short = None,
    who_: Annotated[str | None, Query(alias="who", max_length=16)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    agent = who(request, runtime, db)
    if agent is None:
        return to_login(request)
    user = agent[0]
    f = _filters(team, status, service, who_, q)
    try:
        rows = _rows(db, user, f)
    except ApiError:
        return render(request, "error.html", {"message": "forbidden"}, status=403, agent=agent)
    query = {"team": team, "status": status, "service": service, "who": who_, "q": q}
    query_string = urlencode({k: v for k, v in query.items() if v})
    services = db.scalars(select(Service.code).where(Service.active.is_(True))).all()
    ctx = {
        "rows": rows,
        "filters": query,
        "query_string": query_string,
        "teams": sorted(user.team_codes),
        "statuses": sorted(s.value for s in OPEN_STATUSES),
        "services": sorted(services),
    }
    template = "queue_rows.html" if request.headers.get("hx-request") else "queue.html"
    return render(request, template, ctx, agent=agent)
