"""Process templates: one request for a cross-department process fans out into sub-tickets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import ProcessTemplate, Service, Ticket
from router import sla, texts
from router.lifecycle.records import add_ticket


def service_row(code: str | None, session: Session) -> Service | None:
    """The service by code, looked up once per session (a message asks for it several times)."""
    if code is None:
        return None
    memo: dict[str, Service] = session.info.setdefault("service_rows", {})
    found = memo.get(code)
    if found is None or found not in session:
        found = session.scalar(select(Service).where(Service.code == code))
        if found is not None:
            memo[code] = found
    return found


def fan_out(ticket: Ticket, *, session: Session, now: datetime) -> list[Ticket]:
    """A service with a process template gets one sub-ticket per step, in the same transaction."""
    service = service_row(ticket.service_code, session)
    if service is None or not service.process:
        return []
    template = session.scalar(
        select(ProcessTemplate).where(ProcessTemplate.code == service.process)
    )
    if template is None:
        return []
    children = []
    for index, step in enumerate(template.steps):
        child_service = service_row(step["service"], session)
        if child_service is None:
            continue
        title = step.get(f"title_{texts.lang(ticket.language)}") or child_service.name_en
        child = Ticket(
            subject=f"{title}: {ticket.subject}"[:998],
            service_code=child_service.code,
            team_code=child_service.team_code,
            status="new",
            priority=ticket.priority,
            origin_channel=ticket.origin_channel,
            requester_id=ticket.requester_id,
            requester_address=ticket.requester_address,
            requester_name=ticket.requester_name,
            requester_verified=ticket.requester_verified,
            language=ticket.language,
            routing="process",
            parent_id=ticket.id,
            process_step=f"{index}:{child_service.code}",
        )
        sla.set_due_dates(child, child_service, now, session=session)
        add_ticket(child, session=session)
        children.append(child)
    return children
