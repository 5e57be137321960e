"""What the intake job does with one message: thread it, or route it into a new ticket."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Integer, Select, bindparam, func, literal_column, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from models.db import (
    Employee,
    EmployeeAddress,
    InboundMessage,
    NotificationRow,
    Ticket,
    TicketLink,
)
from models.language import detect_language
from models.settings import Settings
from models.types import IncomingMessage, MessageStatus, NotificationKind, utcnow
from router import notify, sla, texts
from router.clarify import clarify_notification
from router.lifecycle import process_cancel
from router.lifecycle.outcome import Outcome
from router.lifecycle.processes import fan_out, followed, plan_text, service_row
from router.lifecycle.records import add_message, add_ticket, record_event, rows_in_bulk
from router.lifecycle.sla_plan import requester_timezone, team_info
from router.lifecycle.states import move
from router.rating_replies import rated_by_reply, sms_rated_ticket
from router.routing import Decision, decide
from router.threading import UNPROVEN_SENDER, find_ticket, new_topic, outsider_reference


def handle(
    row: InboundMessage,
    message: IncomingMessage,
    *,
    session: Session,
    settings: Settings,
    model: Any = None,
) -> Outcome:
    employee = find_employee(message, session=session)
    if message.meta.get("bounce"):
        return _bounce(message, session=session)
    existing = find_ticket(message, session=session, employee=employee) or sms_rated_ticket(
        message, session=session, settings=settings
    )
    if existing is not None and not new_topic(existing, message):
        return _continue(existing, row, message, session=session, settings=settings)
    if message.meta.get("auto_submitted"):
        return Outcome(
            None, status=MessageStatus.rejected, error="auto-reply with no ticket to attach it to"
        )
    with rows_in_bulk(session):  # its events and its message: one INSERT each, at the end
        ticket = _new_ticket(
            row, message, employee, session=session, settings=settings, model=model
        )
        _link_outsider(ticket, message, employee, session=session)
        if existing is not None:
            reason = "a reply with a new subject and no ticket number"
            _link(ticket, existing, reason, session=session)
        return _created(ticket, session=session, settings=settings)


def _link(ticket: Ticket, other: Ticket, reason: str, *, session: Session) -> None:
    session.add(TicketLink(ticket_id=ticket.id, other_id=other.id, kind="related"))
    record_event(ticket, "linked", to_value=other.number, session=session, data={"reason": reason})


def _link_outsider(
    ticket: Ticket, message: IncomingMessage, employee: Employee | None, *, session: Session
) -> None:
    """Someone else's ticket the message referred to: linked for the specialist, not joined."""
    other = outsider_reference(message, session=session, employee=employee)
    if other is None or other.id == ticket.id:
        return
    session.add(TicketLink(ticket_id=ticket.id, other_id=other.id, kind="related"))
    record_event(
        ticket,
        "linked",
        to_value=other.number,
        session=session,
        data={"reason": "refers to a ticket its sender takes no part in"},
    )


def find_employee(message: IncomingMessage, *, session: Session) -> Employee | None:
    """The sender as a known, active employee; a deactivated one is an unknown sender."""
    found = _lookup_employee(message, session=session)
    return found if found is not None and found.active else None


# Built once: every message looks its sender up.
_BY_ADDRESS = select(EmployeeAddress).where(
    EmployeeAddress.channel == bindparam("channel"), EmployeeAddress.address == bindparam("address")
)
# An e-mail-like address: the person its channel address belongs to, else the one with that
# e-mail, in one statement (each branch on its own index; the link wins, as it always has).
_LINKED: Select[int, int] = (
    select(Employee.id, literal_column("0", Integer).label("rank"))
    .join(EmployeeAddress, EmployeeAddress.employee_id == Employee.id)
    .where(
        EmployeeAddress.channel == bindparam("channel"),
        EmployeeAddress.address == bindparam("address"),
    )
)
_MAILED: Select[int, int] = select(Employee.id, literal_column("1", Integer).label("rank")).where(
    func.lower(Employee.email) == bindparam("email")
)
_CANDIDATES = union_all(_LINKED, _MAILED).subquery()
_BY_ADDRESS_OR_EMAIL = (
    select(Employee)
    .join(_CANDIDATES, _CANDIDATES.c.id == Employee.id)
    .order_by(_CANDIDATES.c.rank)
    .limit(1)
)


def _lookup_employee(message: IncomingMessage, *, session: Session) -> Employee | None:
    address = (message.sender_address or "").strip()
    if not address:
        return None
    channel = message.channel.value
    if "@" in address:
        params = {"channel": channel, "address": address, "email": address.lower()}
        return session.scalar(_BY_ADDRESS_OR_EMAIL, params)
    link = session.scalar(_BY_ADDRESS, {"channel": channel, "address": address})
    if link is not None:
        return link.employee
    if message.channel.value == "phone":
        # One number may be shared (a desk phone): an active holder wins over a former one.
        return session.scalar(
            select(Employee).where(Employee.phone == address).order_by(Employee.active.desc())
        )
    return None


def _language(message: IncomingMessage, employee: Employee | None) -> str:
    if message.language in ("ru", "en"):
        return message.language
    text = "\n".join(p for p in (message.subject, message.text) if p)
    fallback = (employee.language if employee else None) or "ru"
    return detect_language(text, default=fallback)


def _new_ticket(
    row: InboundMessage,
    message: IncomingMessage,
    employee: Employee | None,
    *,
    session: Session,
    settings: Settings,
    model: Any,
) -> Ticket:
    decision = decide(message, session=session, model=model, employee=employee)
    now = utcnow()
    ticket = _ticket_from(decision, message, employee, row, session=session)
    service = service_row(ticket.service_code, session)
    # Its due dates planned first, so they go in its INSERT (no UPDATE of it after); its clocks
    # are written once it has its id (no clocks to read: it is new).
    branch = employee.branch if employee is not None and ticket.requester_id else None
    start_clocks = sla.plan_new(ticket, service, now, session=session, branch=branch)
    add_ticket(ticket, session=session)
    for error in decision.errors:
        record_event(ticket, "error", to_value="classifier", session=session,
                     data={"detail": error})  # fmt: skip
    start_clocks()
    _add_inbound(ticket, row, message, session=session)
    for note in message.meta.get("internal_notes", []):
        add_message(
            ticket,
            session=session,
            direction="internal",
            body=str(note),
            channel=message.channel.value,
            author="okno",
        )
    # A new ticket's children are the ones its fan-out made: known, so the "created" message's
    # plan of them needs no SELECT (issue #20).
    set_committed_value(ticket, "children", fan_out(ticket, session=session, now=now))
    return ticket


def _add_inbound(
    ticket: Ticket, row: InboundMessage, message: IncomingMessage, *, session: Session
) -> None:
    add_message(
        ticket,
        session=session,
        direction="inbound",
        body=message.text,
        channel=message.channel.value,
        author=message.sender_address,
        attachments=[a.model_dump() for a in message.attachments],
        inbound_message_id=row.id,
    )


def _ticket_from(
    decision: Decision,
    message: IncomingMessage,
    employee: Employee | None,
    row: InboundMessage,
    *,
    session: Session,
) -> Ticket:
    service = service_row(decision.service_code, session)
    notes = list(decision.notes) + list(message.meta.get("notes", []))
    if employee is None or message.channel.value in UNPROVEN_SENDER:
        notes.append("unverified requester")
    return Ticket(
        subject=(message.subject or message.text[:120] or "").strip()[:998],
        service_code=decision.service_code,
        predicted_service_code=decision.predicted_service_code,
        team_code=decision.team_code,
        status="new",
        priority=service.priority if service else "normal",
        origin_channel=message.channel.value,
        requester_id=employee.id if employee else None,
        requester_address=message.sender_address,
        requester_name=message.sender_name or (employee.name if employee else None),
        requester_verified=employee is not None and message.channel.value not in UNPROVEN_SENDER,
        language=_language(message, employee),
        routing=decision.routing,
        classifier_version=decision.classifier_version,
        confidence=decision.confidence,
        candidates=decision.candidates,
        reasons=decision.reasons,
        notes=notes,
        source_message_id=row.id,
    )


def _created(ticket: Ticket, *, session: Session, settings: Settings) -> Outcome:
    """The whole new-ticket result: the "created" message, then any question about the service."""
    text = created_text(ticket, session=session, settings=settings)
    rows = [notify.outbox(ticket, NotificationKind.created, text, session=session)]
    rows.append(clarify_notification(ticket, session=session))
    notes = [r for r in rows if r]
    notify.give_ids(notes, session=session)  # the ticket's INSERT came first (see give_ids)
    return Outcome(ticket, notifications=notes, created=True)


def created_text(ticket: Ticket, *, session: Session, settings: Settings) -> str:
    lang = texts.lang(ticket.language)
    tz = requester_timezone(ticket, session=session) or settings.default_timezone
    due = {
        "response_due": texts.local_time(ticket.response_due_at, tz),
        "resolution_due": texts.local_time(ticket.resolution_due_at, tz),
        "tz": tz,
    }
    if ticket.service_code is None:
        return texts.render("created_triage", lang, number=ticket.number, **due)
    service = service_row(ticket.service_code, session)
    team = team_info(ticket.team_code, session=session)
    child_text = plan_text(ticket, session=session)
    return texts.render(
        "created",
        lang,
        number=ticket.number,
        service=getattr(service, f"name_{lang}", ticket.service_code),
        team=getattr(team, f"name_{lang}", ticket.team_code),
        children=child_text,
        **due,
    )


def _continue(
    ticket: Ticket,
    row: InboundMessage,
    message: IncomingMessage,
    *,
    session: Session,
    settings: Settings,
) -> Outcome:
    """A reply: add it to the ticket; reopen a recently closed one, or start a linked new one."""
    now = utcnow()
    auto = bool(message.meta.get("auto_submitted"))
    if not auto and process_cancel.cancels_by_reply(ticket, message.text, session=session):
        _add_inbound(ticket, row, message, session=session)  # "отменить" to a process's mail
        return process_cancel.by_reply(ticket, session=session, via=message.channel.value, now=now)
    if ticket.status in ("resolved", "closed") and not auto:
        rated = rated_by_reply(ticket, message, session=session, settings=settings)
        if rated is not None:  # "5" to the resolution mail is a rating, not a reopen
            _add_inbound(ticket, row, message, session=session)
            return rated
        # The grace window runs from when the work was done; a later close does not extend it.
        finished = ticket.resolved_at or ticket.closed_at or now
        if now - finished > timedelta(days=settings.reopen_grace_days):
            return _follow_up(ticket, row, message, session=session, settings=settings)
    _add_inbound(ticket, row, message, session=session)
    if auto:  # RFC 3834: keep it on the ticket, never answer it, never change state
        record_event(ticket, "auto_reply", session=session, actor=message.sender_address or "?")
        return Outcome(ticket)
    if ticket.status in ("resolved", "closed"):
        # The time spent finished does not count against the due dates (move resumes the clock).
        move(ticket, "reopen", session=session, actor="requester", now=now)
        text = texts.render(
            "status",
            ticket.language,
            number=ticket.number,
            status=texts.status_name(ticket.status, ticket.language),
        )
        note = notify.outbox(ticket, NotificationKind.status, text, session=session)
        outcome = Outcome(ticket, notifications=[note] if note else [])
        return followed(outcome, session=session, actor="requester", now=now)
    if ticket.status == "waiting_for_requester":
        move(ticket, "answer", session=session, actor="requester", now=now)
        return followed(Outcome(ticket), session=session, actor="requester", now=now)
    else:
        record_event(ticket, "requester_message", session=session, actor="requester")
        ticket.updated_at = now
    return Outcome(ticket)


def _follow_up(
    old: Ticket,
    row: InboundMessage,
    message: IncomingMessage,
    *,
    session: Session,
    settings: Settings,
) -> Outcome:
    message.service_hint = message.service_hint or old.service_code
    ticket = _new_ticket(
        row, message, old.requester, session=session, settings=settings, model=None
    )
    session.add(TicketLink(ticket_id=ticket.id, other_id=old.id, kind="follow_up"))
    record_event(
        ticket,
        "linked",
        to_value=old.number,
        session=session,
        data={"reason": "reply to a ticket closed past the reopen window"},
    )
    return _created(ticket, session=session, settings=settings)


def _bounce(message: IncomingMessage, *, session: Session) -> Outcome:
    """A delivery failure never makes a ticket: it marks the notification that bounced."""
    ids = [i for i in message.meta.get("bounced_message_ids", []) if i]
    ids += [i for i in [message.in_reply_to, *message.references] if i]
    forms = {i.strip() for i in ids} | {"<" + i.strip().strip("<>") + ">" for i in ids}
    marked = 0
    if forms:
        for note in session.scalars(
            select(NotificationRow).where(NotificationRow.external_id.in_(forms))
        ):
            note.status, note.error = "failed", "bounced"
            marked += 1
    return Outcome(
        None,
        status=MessageStatus.processed,
        error=f"bounce: {marked} notification(s) marked failed",
    )
