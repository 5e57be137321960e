"""The employee directory over HTTP: search (leads, admins) and one person by e-mail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api.auth import require
from api.deps import SessionDep
from api.employee_schemas import EmployeeOut, employee_out
from api.errors import ApiError
from api.views import error_responses
from models.db import User
from router.directory import by_email, search
from router.users import Role

router = APIRouter(prefix="/api/v1", tags=["employees"])

DirectoryUser = Annotated[User, Depends(require(Role.lead, Role.admin))]


@router.get(
    "/employees",
    response_model=list[EmployeeOut],
    summary="Search the employee directory (leads, admins)",
    description="Every word of `query` must occur in the name, e-mail, phone, department or "
    "branch. Deactivated people are listed too (`active: false`).",
    responses=error_responses(401, 403, 422),
)
def list_employees(
    session: SessionDep,
    user: DirectoryUser,
    query: Annotated[str, Query(max_length=200, description="Words to look for.")] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[EmployeeOut]:
    return [employee_out(p, session=session) for p in search(query, session=session, limit=limit)]


@router.get(
    "/employees/{email}",
    response_model=EmployeeOut,
    summary="One employee by e-mail (leads, admins)",
    responses=error_responses(401, 403, 404, 422),
)
def get_employee(
    email: Annotated[str, Path(max_length=320, examples=["ivanova@corp.example"])],
    session: SessionDep,
    user: DirectoryUser,
) -> EmployeeOut:
    person = by_email(email, session=session)
    if person is None:
        raise ApiError(404, "not_found", f"no employee {email}")
    return employee_out(person, session=session)
