"""The specialist or analyst a benchmark signs in as: one user, made afresh each run."""

from __future__ import annotations

from sqlalchemy import delete

from models.db import User, session_scope
from router.runtime import Runtime
from router.users import create_user


def bench_token(runtime: Runtime, *, email: str, role: str, teams: list[str]) -> str:
    """Replace any earlier run's user with this address and return the new user's API token."""
    with session_scope(runtime.sessions) as session:
        session.execute(delete(User).where(User.email == email))
        _user, token = create_user(
            session=session, name="Bench", email=email, role=role, teams=teams
        )
    return token
