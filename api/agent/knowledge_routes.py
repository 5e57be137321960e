"""The workspace's knowledge base: articles and canned answers per service, managed by leads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from api.agent import session
from api.agent.web import render, to_login, who
from api.auth import Role
from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError
from api.knowledge import ArticleIn, delete, for_service, render_markdown, save
from models.db import Service

router = APIRouter(prefix="/agent", include_in_schema=False)
Field = Annotated[str, Form(max_length=20_000)]


def _page(
    request: Request, db: SessionDep, agent, error: str | None, status: int = 200
) -> Response:  # type: ignore[no-untyped-def]
    user = agent[0]
    services = select(Service).where(Service.active.is_(True)).order_by(Service.code)
    if user.role != Role.admin:
        services = services.where(Service.team_code.in_(user.team_codes))
    ctx = {
        "articles": for_service(None, user, db),
        "manages": user.role in (Role.lead, Role.admin),
        "services": list(db.scalars(services)),
        "markdown": render_markdown,
        "error": error,
    }
    return render(request, "knowledge.html", ctx, status=status, agent=agent)


@router.get("/knowledge", response_class=HTMLResponse)
def knowledge_page(request: Request, runtime: RuntimeDep, db: SessionDep) -> Response:
    agent = who(request, runtime, db)
    if agent is None:
        return to_login()
    return _page(request, db, agent, None)


@router.post("/knowledge", response_class=HTMLResponse)
def add_article(
    request: Request,
    runtime: RuntimeDep,
    db: SessionDep,
    csrf: Field = "",
    service: Field = "",
    language: Field = "ru",
    title: Field = "",
    body: Field = "",
    public: Annotated[str | None, Form(max_length=8)] = None,
) -> Response:
    agent = who(request, runtime, db)
    if agent is None:
        return to_login()
    if not session.csrf_ok(agent[1].csrf, csrf):
        return render(request, "error.html", {"message": "bad_csrf"}, status=403, agent=agent)
    try:
        fields = dict(service=service, language=language, title=title.strip(), body=body)
        article = ArticleIn(**fields, public=public in ("true", "on"))  # type: ignore[arg-type]
        save(article, agent[0], db)
    except ValidationError as exc:
        db.rollback()
        message = ", ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors())
        return _page(request, db, agent, message, 422)
    except ApiError as exc:
        db.rollback()
        return _page(request, db, agent, str(exc.detail), exc.status)
    return RedirectResponse("/agent/knowledge", status_code=303)


@router.post("/knowledge/{article_id}/delete", response_class=HTMLResponse)
def remove_article(
    article_id: int, request: Request, runtime: RuntimeDep, db: SessionDep, csrf: Field = ""
) -> Response:
    agent = who(request, runtime, db)
    if agent is None:
        return to_login()
    if not session.csrf_ok(agent[1].csrf, csrf):
        return render(request, "error.html", {"message": "bad_csrf"}, status=403, agent=agent)
    try:
        delete(article_id, agent[0], db)
    except ApiError as exc:
        db.rollback()
        return _page(request, db, agent, str(exc.detail), exc.status)
    return RedirectResponse("/agent/knowledge", status_code=303)
