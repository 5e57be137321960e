"""API users and their tokens: who may work through the API, in which role and teams.

Tokens are `okno_` + secrets.token_urlsafe(32): 256 random bits. We store only their SHA-256.
A slow password hash (bcrypt, argon2) protects guessable human passwords; a 256-bit random
secret cannot be guessed, so a fast hash is as safe here, lets every request find its user
by an indexed equality lookup, and costs nothing per request. The prefix lets secret
scanners recognise a leaked token.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Team, User, UserTeam

TOKEN_PREFIX = "okno_"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Role(enum.StrEnum):
    specialist = "specialist"
    lead = "lead"
    analyst = "analyst"
    admin = "admin"


# Roles that work on a team's tickets, so they need at least one team.
TEAM_ROLES = (Role.specialist, Role.lead)


class UserError(ValueError):
    """A user cannot be created or changed as asked; `code` says why, the message says how."""

    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.field = code, field


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def user_by_token(token: str, *, session: Session) -> User | None:
    """The active user holding `token`, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    user = session.scalar(select(User).where(User.token_hash == hash_token(token)))
    return user if user is not None and user.active else None


def create_user(
    *, session: Session, name: str, email: str, role: str, teams: list[str]
) -> tuple[User, str]:
    """A new user and its token; the token is returned once and only its hash is kept."""
    email = _email(email)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserError(f"a user with e-mail {email} exists", code="user_exists", field="email")
    role = _role(role)
    name = name.strip()
    if not name:
        raise UserError("the name is empty", field="name")
    user = User(name=name, email=email, role=role, active=True)
    user.teams = _teams(teams, role, session=session)
    token = new_token()
    user.token_hash = hash_token(token)
    session.add(user)
    session.flush()
    return user, token


def update_user(
    *,
    session: Session,
    user_id: int,
    name: str | None = None,
    role: str | None = None,
    teams: list[str] | None = None,
    active: bool | None = None,
) -> tuple[User, str | None]:
    """Change what is given; the role and teams are checked together.

    Deactivation kills the token; reactivation issues a new one (returned once), so a token
    that was revoked never works again.
    """
    user = session.get(User, user_id)
    if user is None:
        raise UserError(f"no user {user_id}", code="not_found")
    if name is not None:
        user.name = name.strip() or user.name
    new_role = _role(role) if role is not None else user.role
    new_teams = teams if teams is not None else user.team_codes
    user.teams = _teams(new_teams, new_role, session=session, existing=user)
    user.role = new_role
    token = None
    if active is False:
        user.token_hash, user.active = None, False
    elif active and not user.active:
        token = new_token()
        user.token_hash, user.active = hash_token(token), True
    return user, token


def issue_token(*, session: Session, email: str) -> tuple[User, str]:
    """A fresh token for an existing user (the old one stops working); re-activates them."""
    user = _by_email(email, session=session)
    token = new_token()
    user.token_hash, user.active = hash_token(token), True
    return user, token


def revoke(*, session: Session, email: str) -> User:
    """The user's token stops working and the user is deactivated; tickets keep their history."""
    user = _by_email(email, session=session)
    user.token_hash, user.active = None, False
    return user


def _by_email(email: str, *, session: Session) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise UserError(f"no user with e-mail {email}", code="not_found", field="email")
    return user


def _email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 320:
        raise UserError(f"{email!r} is not an e-mail address", field="email")
    return email


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise UserError(f"role must be one of {roles}, not {role!r}", field="role") from None


def _teams(
    codes: list[str], role: str, *, session: Session, existing: User | None = None
) -> list[UserTeam]:
    codes = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    if role in TEAM_ROLES and not codes:
        raise UserError(f"a {role} needs at least one team", code="team_required", field="teams")
    known = set(session.scalars(select(Team.code).where(Team.code.in_(codes))))
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise UserError(
            f"unknown team(s): {', '.join(unknown)}", code="unknown_team", field="teams"
        )
    # Keep the rows the user already has, so the ORM does not delete and re-insert them.
    kept = {t.team_code: t for t in existing.teams} if existing is not None else {}
    return [kept.get(c) or UserTeam(team_code=c) for c in codes]
