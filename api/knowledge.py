"""Knowledge base and canned answers per service: read by specialists, managed by leads.

Public articles are also shown to requesters by the portal before they submit
(`GET /api/v1/services/{code}/articles`, no token). Bodies are Markdown, rendered with raw HTML
disabled and markdown-it's link check (no javascript: or data: links).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from markdown_it import MarkdownIt
from markupsafe import Markup
from pydantic import BaseModel, Field, StrictBool, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import CurrentUser, Role, sees_all
from api.deps import SessionDep
from api.errors import ApiError
from api.views import error_responses
from api.workflow_schemas import CODE, NO_NUL
from models.db import Service, User
from models.knowledge import KnowledgeArticle
from models.types import utcnow

router = APIRouter(prefix="/api/v1", tags=["knowledge"])

MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False})
ServiceCode = Annotated[str, Path(pattern=CODE)]


class ArticleIn(BaseModel):
    service: Annotated[str, StringConstraints(pattern=CODE)]
    language: Literal["ru", "en"] = "ru"
    title: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NO_NUL)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=20_000, pattern=NO_NUL)]
    public: StrictBool = Field(
        default=False, description="True: requesters see it in the portal; false: canned answer."
    )


class ArticleOut(BaseModel):
    id: int
    service: str
    language: str
    title: str
    body: str
    public: bool
    author: str


def render_markdown(text: str) -> Markup:
    return Markup(MARKDOWN.render(text))  # raw HTML is disabled: markdown-it escapes it


def out(article: KnowledgeArticle) -> ArticleOut:
    return ArticleOut(
        id=article.id,
        service=article.service_code,
        language=article.language,
        title=article.title,
        body=article.body,
        public=article.public,
        author=article.author,
    )


def team_of(service: str, session: Session) -> str | None:
    return session.scalar(select(Service.team_code).where(Service.code == service))


def for_service(service: str | None, user: User, session: Session) -> list[KnowledgeArticle]:
    """Articles the user may read: of their teams' services (analysts, admins: all)."""
    query = select(KnowledgeArticle).join(Service, Service.code == KnowledgeArticle.service_code)
    if not sees_all(user):
        query = query.where(Service.team_code.in_(user.team_codes))
    if service:
        query = query.where(KnowledgeArticle.service_code == service)
    order = (KnowledgeArticle.service_code, KnowledgeArticle.title, KnowledgeArticle.id)
    return list(session.scalars(query.order_by(*order)))


def require_manager(user: User, service: str, session: Session) -> None:
    """Leads of the service's team and admins manage its articles."""
    team = team_of(service, session)
    if team is None:
        raise ApiError(422, "invalid", [{"field": "service", "message": f"no service {service}"}])
    if user.role == Role.admin or (user.role == Role.lead and team in user.team_codes):
        return
    raise ApiError(403, "forbidden", f"managing articles needs a lead of team {team}")


def save(body: ArticleIn, user: User, session: Session, article_id: int | None = None) -> int:
    require_manager(user, body.service, session)
    article = _article(article_id, user, session) if article_id else KnowledgeArticle()
    if article_id:
        require_manager(user, article.service_code, session)
    article.service_code, article.language = body.service, body.language
    article.title, article.body, article.public = body.title, body.body, body.public
    article.author, article.updated_at = user.email, utcnow()
    session.add(article)
    session.flush()
    return article.id


def delete(article_id: int, user: User, session: Session) -> None:
    article = _article(article_id, user, session)
    require_manager(user, article.service_code, session)
    session.delete(article)


def _article(article_id: int, user: User, session: Session) -> KnowledgeArticle:
    article = session.get(KnowledgeArticle, article_id)
    visible = article is not None and (
        sees_all(user) or team_of(article.service_code, session) in user.team_codes
    )
    if article is None or not visible:
        raise ApiError(404, "not_found", f"no article {article_id}")
    return article


@router.get(
    "/services/{code}/articles",
    response_model=list[ArticleOut],
    tags=["catalogue"],
    summary="Public articles of a service (the portal shows them before submitting)",
    responses=error_responses(422),
)
def public_articles(
    code: ServiceCode, session: SessionDep, language: Literal["ru", "en"] | None = None
) -> list[ArticleOut]:
    query = (
        select(KnowledgeArticle)
        .join(Service, Service.code == KnowledgeArticle.service_code)
        .where(
            KnowledgeArticle.service_code == code,
            KnowledgeArticle.public.is_(True),
            Service.active.is_(True),  # a retired service's page is gone from the portal too
        )
    )
    if language:
        query = query.where(KnowledgeArticle.language == language)
    return [out(a) for a in session.scalars(query.order_by(KnowledgeArticle.title))]


@router.get(
    "/knowledge",
    response_model=list[ArticleOut],
    summary="Articles and canned answers of my teams' services",
    responses=error_responses(401, 422),
)
def list_articles(
    session: SessionDep,
    user: CurrentUser,
    service: Annotated[str | None, Query(pattern=CODE)] = None,
) -> list[ArticleOut]:
    return [out(a) for a in for_service(service, user, session)]


@router.post(
    "/knowledge",
    response_model=ArticleOut,
    status_code=201,
    summary="Add an article (leads of the service's team, admins)",
    responses=error_responses(400, 401, 403, 422),
)
def create_article(body: ArticleIn, session: SessionDep, user: CurrentUser) -> ArticleOut:
    article_id = save(body, user, session)
    return out(_article(article_id, user, session))


@router.put(
    "/knowledge/{article_id}",
    response_model=ArticleOut,
    summary="Change an article (leads of the service's team, admins)",
    responses=error_responses(400, 401, 403, 404, 422),
)
def update_article(
    article_id: Annotated[int, Path(ge=1, le=2**53)],
    body: ArticleIn,
    session: SessionDep,
    user: CurrentUser,
) -> ArticleOut:
    save(body, user, session, article_id)
    return out(_article(article_id, user, session))


@router.delete(
    "/knowledge/{article_id}",
    status_code=204,
    summary="Remove an article (leads of the service's team, admins)",
    responses=error_responses(401, 403, 404, 422),
)
def delete_article(
    article_id: Annotated[int, Path(ge=1, le=2**53)], session: SessionDep, user: CurrentUser
) -> Response:
    delete(article_id, user, session)
    return Response(status_code=204)
