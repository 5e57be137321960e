"""One ticket in the workspace: the page, and its action buttons (forms posting with CSRF)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.agent import session
from api.agent.actions import ActionRefused, offered, perform
from api.agent.session import AgentSession
from api.agent.web import render, to_login, who
from api.attachments import AttachmentId, attachment_response, listed
from api.auth import Role, scope, visible_ticket
from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError
from api.knowledge import for_service
from api.tickets import detail
from api.views import TicketNumber
from models.db import Employee, Service, Ticket, User, UserTeam
from models.types import OPEN_STATUSES
from router.runtime import Runtime

router = APIRouter(prefix="/agent", include_in_schema=False)


def _other_open(ticket: Ticket, user: User, db: Session) -> list[Ticket]:
    """The requester's other open tickets the caller may see."""
    if ticket.requester_id is not None:
        same = Ticket.requester_id == ticket.requester_id
    elif ticket.requester_address:
        same = Ticket.requester_address == ticket.requester_address
    else:
        return []
    query = select(Ticket).where(same, Ticket.id != ticket.id)
    query = query.where(Ticket.status.in_([s.value for s in OPEN_STATUSES]))
    return list(db.scalars(scope(query, user).order_by(Ticket.id.desc()).limit(10)))


def _members(ticket: Ticket, user: User, db: Session) -> list[User]:
    """Who a lead may assign the ticket to (empty for the others: the button is not shown)."""
    if user.role not in (Role.lead, Role.admin):
        return []
    query = select(User).join(UserTeam).where(UserTeam.team_code == ticket.team_code)
    return list(db.scalars(query.where(User.active.is_(True)).order_by(User.name)))


def page_context(ticket: Ticket, user: User, db: Session) -> dict[str, Any]:
    data = detail(ticket, session=db)
    employee = db.get(Employee, ticket.requester_id) if ticket.requester_id else None
    services = db.scalars(select(Service).where(Service.active.is_(True)).order_by(Service.code))
    return {
        "ticket": data,
        "employee": data.requester_employee if employee else None,
        "other_open": _other_open(ticket, user, db),
        "attachments": listed(ticket),
        "actions": offered(ticket.status),
        "members": _members(ticket, user, db),
        "services": list(services),
        "articles": for_service(ticket.service_code, user, db) if ticket.service_code else [],
        "reply_text": "",
    }


def _show(
    request: Request,
    number: str,
    agent: tuple[User, AgentSession],
    db: Session,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    try:
        ticket = visible_ticket(number, agent[0], session=db)
    except ApiError:
        return render(request, "error.html", {"message": "not_found"}, status=404, agent=agent)
    ctx = {**page_context(ticket, agent[0], db), "error": error, "done": None}
    if error is None and request.query_params.get("done"):
        ctx["done"] = "done"
    chosen = request.query_params.get("insert", "")
    ctx["reply_text"] = next((a.body for a in ctx["articles"] if str(a.id) == chosen), "")
    return render(request, "ticket.html", ctx, status=status, agent=agent)


@router.get("/tickets/{number}", response_class=HTMLResponse)
def ticket_page(
    number: TicketNumber, request: Request, runtime: RuntimeDep, db: SessionDep
) -> Response:
    agent = who(request, runtime, db)
    if agent is None:
        return to_login()
    return _show(request, number.upper(), agent, db)


FormText = Annotated[str | None, Form(max_length=20_000)]


def form_fields(
    csrf: FormText = None,
    text: FormText = None,
    public: FormText = None,
    user_id: FormText = None,
    resolution: FormText = None,
    service: FormText = None,
    team: FormText = None,
    reason: FormText = None,
    into: FormText = None,
    other: FormText = None,
    kind: FormText = None,
) -> dict[str, str]:
    """Every field an action form may post (each action reads its own)."""
    fields = dict(csrf=csrf, text=text, public=public, user_id=user_id, resolution=resolution)
    fields.update(service=service, team=team, reason=reason, into=into, other=other, kind=kind)
    return {k: v for k, v in fields.items() if v is not None}


Fields = Annotated[dict[str, str], Depends(form_fields)]


def _act(
    action: str, number: str, form: dict[str, str], request: Request, runtime: Runtime, db: Session
) -> Response:
    agent = who(request, runtime, db)
    if agent is None:
        return to_login()
    if not session.csrf_ok(agent[1].csrf, form.get("csrf")):
        return render(request, "error.html", {"message": "bad_csrf"}, status=403, agent=agent)
    number = number.upper()
    try:
        perform(action, number, form, session=db, runtime=runtime, user=agent[0])
    except ActionRefused as refused:
        db.rollback()
        return _show(request, number, agent, db, error=refused.message, status=refused.status)
    return RedirectResponse(f"/agent/tickets/{number}?done={action}", status_code=303)


@router.post("/tickets/{number}/comment", response_class=HTMLResponse)
def comment(
    number: TicketNumber, form: Fields, request: Request, runtime: RuntimeDep, db: SessionDep
) -> Response:
    """The reply form: `text`, and `public` (checked: sent to the requester)."""
    return _act("comment", number, form, request, runtime, db)


@router.post("/tickets/{number}/{action}", response_class=HTMLResponse)
def act(
    number: TicketNumber,
    action: str,
    form: Fields,
    request: Request,
    runtime: RuntimeDep,
    db: SessionDep,
) -> Response:
    return _act(action, number, form, request, runtime, db)


@router.get("/tickets/{number}/attachments/{id}")
def attachment(
    number: TicketNumber, id: AttachmentId, request: Request, runtime: RuntimeDep, db: SessionDep
) -> Response:
    """The same download as the API's, for the signed-in browser (its cookie, not a token)."""
    agent = who(request, runtime, db)
    if agent is None:
        return to_login()
    ticket = visible_ticket(number, agent[0], session=db)
    return attachment_response(ticket, id, runtime.settings.attachments_dir)
