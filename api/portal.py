"""The portal's new-request page, its public helpers: catalogue, search, suggestions, uploads.

No token: requesters are not users. Only active services and their public fields are shown;
suggestions and uploads are rate-limited per client address like the form itself.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile, status
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select

from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError, ErrorBody
from channels.blobs import store_blob
from classifier.morphology import language as detect_language
from models.db import Service, Team
from models.types import Attachment, without_nul
from router import portal_candidates, portal_search, portal_uploads, ratelimit
from router.jobs import active_model
from router.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["portal"])

Language = Literal["ru", "en"]
UPLOADS_PATH = "/api/v1/intake/uploads"
CANDIDATE_TEXT_MAX = 4000  # the start of a request says what it is about


class CatalogueService(BaseModel):
    code: str
    team: str
    name_ru: str
    name_en: str
    description_ru: str
    description_en: str
    resolution_hours: float = Field(description="The promised resolution time, working hours.")


class CatalogueTeam(BaseModel):
    code: str
    name_ru: str
    name_en: str
    services: list[CatalogueService]


class CatalogueOut(BaseModel):
    teams: list[CatalogueTeam]


class SearchHit(CatalogueService):
    score: float


class SearchOut(BaseModel):
    query: str
    services: list[SearchHit]


class CandidatesIn(BaseModel):
    text: str = Field(max_length=64_000, description="What the person has typed so far.")
    language: Language | None = Field(default=None, description="Default: read from the text.")

    @field_validator("text")
    @classmethod
    def _clean(cls, value: str) -> str:
        return str(without_nul(value))


class Candidate(BaseModel):
    service: str
    name: str = Field(description="In the request's language.")
    description: str
    team: str
    team_name: str
    score: float = Field(description="The model's probability for this service, 0..1.")


class CandidatesOut(BaseModel):
    candidates: list[Candidate] = Field(description="At most three, best first; active only.")
    reason: str | None = Field(
        default=None,
        description="Why the list is empty: no_model (none trained or promoted yet), "
        "model_unavailable (the active model cannot be loaded), too_short (too little text "
        'yet: what a greeting or "it does not work" alone says), no_active_service.',
    )
    model_version: str | None = None


class UploadOut(BaseModel):
    id: str = Field(description="Name this id in the form's `attachments` list.")
    name: str
    content_type: str
    size: int


def _limited(runtime: Runtime, request: Request, scope: str, limit: int) -> None:
    client = request.client.host if request.client else ""
    wait = ratelimit.wait_seconds(
        runtime.redis, scope, client, limit=limit, window=runtime.settings.rate_limit_window_seconds
    )
    if wait is not None:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests from this client; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def _active_services(session: Any) -> list[tuple[Service, Team]]:
    rows = session.execute(
        select(Service, Team)
        .join(Team, Team.code == Service.team_code)
        .where(Service.active.is_(True))
        .order_by(Team.code, Service.code)
    ).all()
    return [(service, team) for service, team in rows]


def _public(service: Service) -> CatalogueService:
    return CatalogueService(
        code=service.code,
        team=service.team_code,
        name_ru=service.name_ru,
        name_en=service.name_en,
        description_ru=service.description_ru or "",
        description_en=service.description_en or "",
        resolution_hours=service.resolution_hours,
    )


@router.get(
    "/catalogue",
    response_model=CatalogueOut,
    summary="The active services by team, with descriptions (public)",
)
def catalogue(session: SessionDep) -> CatalogueOut:
    teams: dict[str, CatalogueTeam] = {}
    for service, team in _active_services(session):
        entry = teams.setdefault(
            team.code,
            CatalogueTeam(code=team.code, name_ru=team.name_ru, name_en=team.name_en, services=[]),
        )
        entry.services.append(_public(service))
    return CatalogueOut(teams=list(teams.values()))


@router.get(
    "/catalogue/search",
    response_model=SearchOut,
    summary="Search the active services in Russian or English (public)",
    description="Matches names, descriptions, team names and codes in both languages, any "
    "case, word forms, prefixes, small typos and the wrong keyboard layout.",
    responses={422: {"model": ErrorBody}},
)
def search(
    session: SessionDep,
    q: Annotated[str, Query(max_length=200, description="What the person typed.")],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SearchOut:
    q = str(without_nul(q))
    rows = _active_services(session)
    entries = [
        portal_search.Entry(
            code=s.code,
            names=(s.name_ru, s.name_en),
            descriptions=(s.description_ru or "", s.description_en or ""),
            teams=(t.name_ru, t.name_en),
        )
        for s, t in rows
    ]
    by_code = {s.code: s for s, _ in rows}
    hits = portal_search.search(entries, q, limit=limit)
    return SearchOut(
        query=q,
        services=[
            SearchHit(**_public(by_code[code]).model_dump(), score=score) for code, score in hits
        ],
    )


@router.post(
    "/intake/candidates",
    response_model=CandidatesOut,
    summary="The classifier's best three services for a text; creates nothing (public)",
    description='For the portal\'s "describe your problem": the active model, read-only. '
    "Without a trained model the list is empty and `reason` says why.",
    responses={422: {"model": ErrorBody}, 429: {"model": ErrorBody}},
)
def candidates(
    body: CandidatesIn, request: Request, runtime: RuntimeDep, session: SessionDep
) -> CandidatesOut:
    _limited(runtime, request, "candidates", runtime.settings.rate_limit_candidates_per_client)
    text = body.text[:CANDIDATE_TEXT_MAX]
    language = body.language or detect_language(text.lower())
    try:
        model = active_model(runtime)
    except Exception:  # the promoted model cannot be loaded: the page goes on without help
        log.exception("no suggestions: the active model cannot be loaded")
        return CandidatesOut(candidates=[], reason="model_unavailable")
    found = portal_candidates.suggest(text, language=language, model=model, session=session)
    return CandidatesOut(
        candidates=[Candidate(**c) for c in found.candidates],
        reason=found.reason,
        model_version=found.model_version,
    )


@router.post(
    UPLOADS_PATH.removeprefix("/api/v1"),
    status_code=status.HTTP_201_CREATED,
    response_model=UploadOut,
    summary="Upload one file for the web form; the form names it by the id answered",
    description="multipart/form-data with one `file`. Limits: OKNO_PORTAL_MAX_FILE_BYTES per "
    "file (413), the allowed types (415: PDF, images, text/CSV, ZIP, office documents), "
    "OKNO_PORTAL_MAX_FILES per request (checked by the form, 422).",
    responses={
        400: {"model": ErrorBody, "description": "Not a readable multipart body."},
        413: {"model": ErrorBody},
        415: {"model": ErrorBody},
        422: {"model": ErrorBody},
        429: {"model": ErrorBody},
    },
)
def upload(
    file: Annotated[UploadFile, File(description="The file.")],
    request: Request,
    runtime: RuntimeDep,
) -> UploadOut:
    settings = runtime.settings
    _limited(runtime, request, "upload", settings.rate_limit_per_client)
    name = portal_uploads.clean_name(file.filename)
    kind = portal_uploads.content_type(file.content_type, name)
    if kind not in portal_uploads.ALLOWED_TYPES:
        raise ApiError(415, "unsupported_type", f"{name}: files of type {kind} are not accepted")
    data = file.file.read(settings.portal_max_file_bytes + 1)
    if len(data) > settings.portal_max_file_bytes:
        raise ApiError(
            413, "file_too_large", f"{name}: over {settings.portal_max_file_bytes} bytes"
        )
    if not data:
        raise ApiError(422, "empty_file", [{"field": "file", "message": f"{name} is empty"}])
    key = store_blob(settings.attachments_dir, data)
    item = Attachment(name=name, content_type=kind, size=len(data), stored_key=key)
    return UploadOut(
        id=portal_uploads.upload_id(runtime.secret_key, item),
        name=name,
        content_type=kind,
        size=len(data),
    )
