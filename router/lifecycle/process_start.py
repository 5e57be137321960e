"""Starting a process explicitly: a manager or an HR system asks for it with its fields.

`POST /api/v1/processes/{code}` (api/processes.py) and `okno process start` both call `start`;
the parent ticket is the process's own service, its sub-tickets fan out as for a routed request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import ProcessTemplate, Service, Ticket
from models.types import Channel, NotificationKind
from router import notify, sla, texts
from router.directory import by_email
from router.lifecycle.outcome import Outcome
from router.lifecycle.processes import fan_out, plan_text
from router.lifecycle.records import add_message, add_ticket
from router.lifecycle.states import NEW, InvalidInput, TicketNotFound


def start(
    *,
    session: Session,
    code: str,
    fields: dict[str, str],
    requester: str,
    actor: str,
    now: datetime,
    subject: str | None = None,
    language: str | None = None,
) -> Outcome:
    """Open the parent ticket and every sub-ticket; the requester hears the plan by e-mail."""
    template = session.scalar(select(ProcessTemplate).where(ProcessTemplate.code == code))
    service = session.scalar(
        select(Service)
        .where(Service.process == code, Service.active.is_(True))
        .order_by(Service.id)
    )
    if template is None or service is None:
        raise TicketNotFound(f"no process {code!r}", code="unknown_process")
    _check_fields(template, fields)
    employee = by_email(requester, session=session)
    parent = Ticket(
        subject=(subject or _subject(template, fields, language))[:998],
        service_code=service.code,
        team_code=service.team_code,
        status=NEW,
        priority=service.priority,
        origin_channel=Channel.email.value,
        requester_id=employee.id if employee else None,
        requester_address=requester,
        requester_name=employee.name if employee else None,
        requester_verified=employee is not None,
        language=language or (employee.language if employee else None) or "ru",
        routing="process",
    )
    add_ticket(parent, session=session, actor=actor)
    sla.set_due_dates(parent, service, now, session=session)
    lines = "\n".join(f"{k}: {v}" for k, v in fields.items())
    add_message(parent, session=session, direction="internal", body=lines, author=actor)
    fan_out(parent, session=session, now=now, fields=fields)
    session.flush()
    text = texts.render(
        "process_started",
        parent.language,
        number=parent.number,
        children=plan_text(parent, session=session),
    )
    row = notify.outbox(parent, NotificationKind.created, text, session=session)
    return Outcome(parent, [row] if row else [], created=True)


def _check_fields(template: ProcessTemplate, fields: dict[str, str]) -> None:
    """Every field the template asks for, and no other."""
    asked = list(template.fields or [])
    missing = [f for f in asked if not str(fields.get(f) or "").strip()]
    unknown = [f for f in fields if f not in asked]
    if missing:
        raise InvalidInput(
            f"missing fields: {', '.join(missing)}", code="missing_fields", field="fields"
        )
    if unknown:
        raise InvalidInput(
            f"unknown fields: {', '.join(unknown)}; {template.code} asks for {', '.join(asked) or 'none'}",
            code="unknown_fields",
            field="fields",
        )


def _subject(template: ProcessTemplate, fields: dict[str, str], language: str | None) -> str:
    name = template.name_en if texts.lang(language) == "en" else template.name_ru
    values = ", ".join(str(v) for v in fields.values())
    return f"{name}: {values}" if values else name
