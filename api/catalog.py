"""The catalogue beyond the service list: teams and their members; admins add and change services."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from sqlalchemy import select

from api.auth import AdminUser, CurrentUser, require_team
from api.deps import SessionDep
from api.errors import ApiError
from api.schemas import ServiceOut
from api.views import error_responses
from api.workflow_schemas import CODE, MemberOut, ServiceIn, ServicePatch, TeamOut
from models.db import Service, Team, User, UserTeam
from router.catalog import CatalogChangeError, create_service, update_service

router = APIRouter(prefix="/api/v1", tags=["catalogue"])

CodePath = Annotated[str, Path(pattern=CODE, examples=["hr_certificate"])]
TeamPath = Annotated[str, Path(pattern=CODE, examples=["hr"])]
# Fields that may be set to null through PATCH; for the others null means "leave as is".
NULLABLE = {"process"}


def service_out(service: Service) -> ServiceOut:
    return ServiceOut(
        code=service.code,
        team=service.team_code,
        name_ru=service.name_ru,
        name_en=service.name_en,
        description_ru=service.description_ru,
        description_en=service.description_en,
        priority=service.priority,
        response_hours=service.response_hours,
        resolution_hours=service.resolution_hours,
        process=service.process,
        active=service.active,
    )


def catalog_error(exc: CatalogChangeError) -> ApiError:
    if exc.code == "not_found":
        return ApiError(404, "not_found", str(exc))
    if exc.code == "service_exists":
        return ApiError(409, exc.code, str(exc))
    return ApiError(422, exc.code, [{"field": exc.field or "body", "message": str(exc)}])


@router.get(
    "/teams", response_model=list[TeamOut], summary="All teams", responses=error_responses(401)
)
def list_teams(session: SessionDep, user: CurrentUser) -> list[TeamOut]:
    teams = session.scalars(select(Team).order_by(Team.code))
    return [
        TeamOut(code=t.code, name_ru=t.name_ru, name_en=t.name_en, email=t.email) for t in teams
    ]


@router.get(
    "/teams/{code}/members",
    response_model=list[MemberOut],
    summary="A team's active members (to assign tickets to)",
    description="For the team's own members, analysts and admins.",
    responses=error_responses(401, 403, 404, 422),
)
def team_members(code: TeamPath, session: SessionDep, user: CurrentUser) -> list[MemberOut]:
    if session.scalar(select(Team.code).where(Team.code == code)) is None:
        raise ApiError(404, "not_found", f"no team {code}")
    require_team(user, code)
    members = session.scalars(
        select(User)
        .join(UserTeam, UserTeam.user_id == User.id)
        .where(UserTeam.team_code == code, User.active.is_(True))
        .order_by(User.name)
    )
    return [MemberOut(id=u.id, name=u.name, email=u.email, role=u.role) for u in members]


@router.post(
    "/services",
    status_code=status.HTTP_201_CREATED,
    response_model=ServiceOut,
    summary="Add a service (admins)",
    description="`okno catalog load` upserts the YAML file by code: keep the file in step.",
    responses={
        **error_responses(400, 401, 403, 422),
        409: {**error_responses(409)[409], "description": "A service with this code exists"},
    },
)
def add_service(body: ServiceIn, session: SessionDep, admin: AdminUser) -> ServiceOut:
    values = body.model_dump(exclude={"code", "team"})
    values["priority"] = body.priority.value
    try:
        service = create_service(session=session, code=body.code, team=body.team, **values)
    except CatalogChangeError as exc:
        raise catalog_error(exc) from exc
    return service_out(service)


@router.patch(
    "/services/{code}",
    response_model=ServiceOut,
    summary="Change a service (admins)",
    description="Only the fields sent change. `active: false` hides the service from the "
    "catalogue and routing; existing tickets keep it. New due times apply to new tickets.",
    responses=error_responses(400, 401, 403, 404, 422),
)
def patch_service(
    code: CodePath, body: ServicePatch, session: SessionDep, admin: AdminUser
) -> ServiceOut:
    values = body.model_dump(exclude_unset=True, mode="json")
    values = {k: v for k, v in values.items() if v is not None or k in NULLABLE}
    try:
        service = update_service(session=session, code=code, **values)
    except CatalogChangeError as exc:
        raise catalog_error(exc) from exc
    return service_out(service)
