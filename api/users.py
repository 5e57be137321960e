"""API users: who am I, and (admins) list, create and change users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from sqlalchemy import select

from api.auth import AdminUser, CurrentUser
from api.deps import SessionDep
from api.errors import ApiError
from api.views import error_responses
from api.workflow_schemas import UserCreated, UserIn, UserOut, UserPatch, UserPatched
from models.db import User
from router.users import Role, UserError, create_user, update_user

router = APIRouter(prefix="/api/v1", tags=["users"])

UserId = Annotated[int, Path(ge=1, le=2**53, examples=[1])]


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        name=user.name,
        email=user.email,
        role=Role(user.role),
        teams=sorted(user.team_codes),
        active=user.active,
        has_token=user.token_hash is not None,
        created_at=user.created_at,
    )


def user_error(exc: UserError) -> ApiError:
    if exc.code == "not_found":
        return ApiError(404, "not_found", str(exc))
    if exc.code == "user_exists":
        return ApiError(409, exc.code, str(exc))
    return ApiError(422, exc.code, [{"field": exc.field or "body", "message": str(exc)}])


@router.get(
    "/me",
    response_model=UserOut,
    summary="Who the token belongs to",
    responses=error_responses(401),
)
def me(user: CurrentUser) -> UserOut:
    """Your role and teams: what the queue shows and which actions you may take."""
    return user_out(user)


@router.get(
    "/users",
    response_model=list[UserOut],
    summary="All users (admins)",
    responses=error_responses(401, 403),
)
def list_users(session: SessionDep, admin: AdminUser) -> list[UserOut]:
    return [user_out(u) for u in session.scalars(select(User).order_by(User.id))]


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserCreated,
    summary="Create a user and its API token (admins)",
    description="The token is in this answer only; Okno keeps just its SHA-256. Specialists "
    "and leads need at least one team.",
    responses={
        **error_responses(400, 401, 403, 422),
        409: {**error_responses(409)[409], "description": "A user with this e-mail exists"},
    },
)
def add_user(body: UserIn, session: SessionDep, admin: AdminUser) -> UserCreated:
    try:
        user, token = create_user(
            session=session, name=body.name, email=body.email, role=body.role, teams=body.teams
        )
    except UserError as exc:
        raise user_error(exc) from exc
    return UserCreated(user=user_out(user), token=token)


@router.patch(
    "/users/{user_id}",
    response_model=UserPatched,
    summary="Change a user's name, role, teams or access (admins)",
    description="`active: false` revokes access and its token at once; `active: true` on an "
    "inactive user issues a new token (in this answer only). Admins cannot demote or deactivate "
    "themselves, so the last admin is never locked out by accident.",
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def patch_user(
    user_id: UserId, body: UserPatch, session: SessionDep, admin: AdminUser
) -> UserPatched:
    if user_id == admin.id and (body.active is False or body.role not in (None, Role.admin)):
        raise ApiError(409, "self_lockout", "an admin cannot demote or deactivate themselves")
    try:
        user, token = update_user(
            session=session,
            user_id=user_id,
            name=body.name,
            role=body.role,
            teams=body.teams,
            active=body.active,
        )
    except UserError as exc:
        raise user_error(exc) from exc
    return UserPatched(**user_out(user).model_dump(), token=token)
