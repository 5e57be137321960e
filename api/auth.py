"""Bearer-token auth: who is calling, and what their role and teams let them see and do.

Roles: a specialist sees and acts on its teams' tickets; a lead also assigns them and may
record a requester's rating; an analyst reads every ticket and the analytics but changes
nothing; an admin may do everything and manages the catalogue and users.

A ticket outside the caller's teams answers 404, exactly as a missing one: numbers are
sequential, so a 403 would let anyone enumerate which tickets exist, and HR or security
tickets must not even be known to other teams. 403 is for what the caller can see but their
role does not allow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Select
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.errors import ApiError
from models.db import Ticket, User
from router.lifecycle.records import by_number
from router.users import Role, user_by_token

bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="okno_…",
    description=(
        "An API token from `okno user add` or POST /api/v1/users, shown once when issued. "
        "Send it as `Authorization: Bearer <token>`."
    ),
)

SEES_ALL = (Role.analyst, Role.admin)
ACTS = (Role.specialist, Role.lead, Role.admin)


def current_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None:
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    user = user_by_token(credentials.credentials, session=session)
    if user is None:
        raise ApiError(401, "unauthorized", "the token is unknown or revoked")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: str) -> Callable[[User], User]:
    """A dependency letting through only the given roles (403 for the others)."""

    def dependency(user: CurrentUser) -> User:
        if user.role not in roles:
            raise ApiError(
                403, "forbidden", f"this needs role {' or '.join(roles)}; you are {user.role}"
            )
        return user

    return dependency


AdminUser = Annotated[User, Depends(require(Role.admin))]
AnalystUser = Annotated[User, Depends(require(Role.analyst, Role.admin))]
# Those who change tickets: analysts read only.
ActingUser = Annotated[User, Depends(require(*ACTS))]
# Ratings feed the analytics, so the people rated (specialists) cannot record them: a lead
# who took a rating by phone, or a channel integration's account (admin), can.
RatingUser = Annotated[User, Depends(require(Role.lead, Role.admin))]


def sees_all(user: User) -> bool:
    return user.role in SEES_ALL


def can_see(user: User, ticket: Ticket) -> bool:
    return sees_all(user) or ticket.team_code in user.team_codes


def visible_ticket(number: str, user: User, *, session: Session) -> Ticket:
    """The ticket if the caller may see it; 404 otherwise, whether it exists or not."""
    ticket = by_number(number, session=session)
    if ticket is None or not can_see(user, ticket):
        raise ApiError(404, "not_found", f"no ticket {number.upper()}")
    return ticket


def scope(query: Select[Ticket], user: User) -> Select[Ticket]:
    """Restrict a ticket query to what the caller may see."""
    if sees_all(user):
        return query
    return query.where(Ticket.team_code.in_(user.team_codes))


def require_lead_of(user: User, ticket: Ticket) -> None:
    """Assigning is for the leads of the ticket's team (and admins)."""
    if user.role == Role.admin:
        return
    if user.role != Role.lead or ticket.team_code not in user.team_codes:
        raise ApiError(403, "forbidden", f"assigning needs a lead of team {ticket.team_code}")


def require_team(user: User, team: str) -> None:
    """An explicit team filter must name one of the caller's teams (unless they see all)."""
    if not sees_all(user) and team not in user.team_codes:
        raise ApiError(403, "forbidden", f"you are not a member of team {team}")
