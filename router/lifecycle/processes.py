"""Cross-department processes: one request fans out into sub-tickets run in stages.

A template's stages run in order and the steps of a stage in parallel. Every sub-ticket exists
from the start so everyone sees the whole plan; a later stage's are `planned` (no queue, no SLA
clock) until every sub-ticket of the stage before is resolved or closed as not needed. The
parent ticket follows its children, and the requester hears of each milestone once, on the
parent: a stage starting, the whole process done. Every status change goes through `move`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import NotificationRow, ProcessTemplate, Service, Team, Ticket
from models.rows import attach_loaded, columns_of, row_values
from models.types import NotificationKind
from router import catalog_cache, notify, sla, texts
from router.lifecycle.outcome import Outcome
from router.lifecycle.records import add_message, add_tickets
from router.lifecycle.states import (
    ASSIGNED,
    CLOSED,
    IN_PROGRESS,
    NEW,
    OPEN,
    PLANNED,
    RESOLVED,
    WAITING,
    Conflict,
    move,
)

DONE = (RESOLVED, CLOSED)
# Channels where a reply threads onto the ticket, so "отменить" in reply cancels the process.
REPLY_CHANNELS = ("email", "telegram")
WORKED_ON = (ASSIGNED, IN_PROGRESS, WAITING, RESOLVED)


def service_row(code: str | None, session: Session) -> Service | None:
    """The service by code, looked up once per session (a message asks for it several times),
    its row kept by the per-process catalogue cache (router/catalog_cache.py, cleared when the
    catalogue changes): a worker reads each service once, not once per message. Issue #20:
    with a model routing to services, these SELECTs were ~10 % of a routed message's worker
    time (one per service a message touches, a fan-out's sub-services included)."""
    if code is None:
        return None
    memo: dict[str, Service] = session.info.setdefault("service_rows", {})
    found = memo.get(code)
    if found is None or found not in session:
        found = _service_in(code, session)
        if found is not None:
            memo[code] = found
    return found


def _service_in(code: str, session: Session) -> Service | None:
    return _catalogue_row(Service, code, session)  # type: ignore[no-any-return]


def template_of(ticket: Ticket, *, session: Session) -> ProcessTemplate | None:
    """The process a ticket's service starts, if any: its row kept by the per-process catalogue
    cache as the services are (a worker reads each template once, not once per fan-out)."""
    service = service_row(ticket.service_code, session)
    if service is None or not service.process:
        return None
    return _catalogue_row(ProcessTemplate, service.process, session)  # type: ignore[no-any-return]


def _catalogue_row(cls: type[Service] | type[ProcessTemplate], code: str, session: Session) -> Any:
    """The row of `cls` with this code, its values kept by the per-process catalogue cache: the
    session's own object if it holds one (it may have changed it), else one attached as loaded,
    with copies of its own of any JSON values (a template's steps, stages and fields)."""
    key = f"{cls.__tablename__}:{code}"
    values = catalog_cache.cached(key, lambda: _row_values(cls, code, session))
    if values is None:
        return None
    held = session.identity_map.get(session.identity_key(cls, values["id"]))
    if held is not None:
        return held
    own = {k: copy.deepcopy(v) if isinstance(v, list | dict) else v for k, v in values.items()}
    return attach_loaded(cls, own, session=session)


def _row_values(
    cls: type[Service] | type[ProcessTemplate], code: str, session: Session
) -> dict[str, Any] | None:
    """The row's columns as plain values."""
    found = session.execute(select(*columns_of(cls)).where(cls.code == code)).first()
    return row_values(cls, found) if found is not None else None


def stages_of(template: ProcessTemplate) -> list[list[Any]]:
    """The stages in order; a template loaded before stages existed is one stage."""
    return template.stages or ([template.steps] if template.steps else [])


def start_clock(ticket: Ticket, service: Service, now: datetime, *, session: Session) -> None:
    """A sub-ticket's SLA clock starts when its stage opens (the SLA clocks hook in here)."""
    sla.set_due_dates(ticket, service, now, session=session)


def fan_out(
    ticket: Ticket, *, session: Session, now: datetime, fields: dict[str, str] | None = None
) -> list[Ticket]:
    """A service with a process template gets every stage's sub-tickets, in one transaction."""
    template = template_of(ticket, session=session)
    if template is None:
        return []
    ticket.process_fields = dict(fields or ticket.process_fields or {})
    children: list[Ticket] = []
    starts = []
    branch = ticket.requester.branch if ticket.requester_id and ticket.requester else None
    for stage, steps in enumerate(stages_of(template)):
        for step in steps:
            service = service_row(step["service"], session)
            if service is not None:
                child = _child(ticket, step, service, stage, len(children), session=session)
                if stage == 0:  # its due dates planned first, so they go in its INSERT
                    starts.append(sla.plan_new(child, service, now, session=session, branch=branch))
                children.append(child)
    # Issue #20: all their ids in one round trip and their INSERTs in another (PostgreSQL),
    # not two round trips each; then the first stage's clocks, which belong to their ids.
    add_tickets(children, session=session)
    for start in starts:
        start()
    return children


def _child(
    parent: Ticket,
    step: dict[str, Any],
    service: Service,
    stage: int,
    index: int,
    *,
    session: Session,
) -> Ticket:
    title = step.get(f"title_{texts.lang(parent.language)}") or service.name_en
    return Ticket(
        subject=f"{title}: {parent.subject}"[:998],
        service_code=service.code,
        team_code=service.team_code,
        status=NEW if stage == 0 else PLANNED,
        priority=parent.priority,
        origin_channel=parent.origin_channel,
        requester_id=parent.requester_id,
        requester_address=parent.requester_address,
        requester_name=parent.requester_name,
        requester_verified=parent.requester_verified,
        language=parent.language,
        routing="process",
        parent_id=parent.id,
        process_step=f"{index}:{service.code}",
        stage=stage,
        process_fields=dict(parent.process_fields or {}),
    )


def plan_text(ticket: Ticket, *, session: Session) -> str:
    """The sub-tickets as the requester's first answer lists them, later stages marked."""
    service = service_row(ticket.service_code, session)
    if service is None or not service.process:  # only a process template makes sub-tickets
        return ""
    if "children" in ticket.__dict__:  # a new request's, known from its fan-out (no SELECT)
        children = list(ticket.children)
    else:
        children = list(
            session.scalars(select(Ticket).where(Ticket.parent_id == ticket.id).order_by(Ticket.id))
        )
    items = []
    for child in children:
        item = f"{child.number} ({child.team_code})"
        if child.status == PLANNED:
            item = texts.render("planned", ticket.language, item=item)
        items.append(item)
    if not items:
        return ""
    plan = texts.render("children", ticket.language, items=", ".join(items))
    if ticket.origin_channel in REPLY_CHANNELS:  # router/lifecycle/process_cancel.py
        plan += texts.render("cancel_hint", ticket.language)
    return plan


def followed(
    outcome: Outcome, *, session: Session, actor: str, now: datetime, reason: str | None = None
) -> Outcome:
    """After an action: the ticket's process follows (its parent, or its children if a parent)."""
    ticket = outcome.changed
    if ticket.parent_id is not None:
        outcome.notifications += roll_up(ticket.parent_id, session=session, actor=actor, now=now)
    elif ticket.status == CLOSED:
        cancel_children(ticket, session=session, actor=actor, now=now, reason=reason)
    return outcome


def refuse_open_children(parent: Ticket, *, session: Session) -> None:
    """A parent is resolved by its children, not over them: 409 naming the ones still to do.

    Resolving it directly would tell the requester "done" while steps are still open or not
    even started. The lead resolves or closes those steps (the parent then resolves itself,
    with the summary), or closes the parent to cancel the rest.
    """
    waiting = session.scalars(
        select(Ticket.number)
        .where(Ticket.parent_id == parent.id, Ticket.status.in_([*OPEN, PLANNED]))
        .order_by(Ticket.id)
    ).all()
    if waiting:
        raise Conflict(
            f"{parent.number} has sub-tickets still to do: {', '.join(n or '?' for n in waiting)}; "
            "resolve or close them (the process then resolves itself), or close "
            f"{parent.number} to cancel them",
            code="open_children",
            children=list(waiting),
        )


def cancel_children(
    parent: Ticket, *, session: Session, actor: str, now: datetime, reason: str | None
) -> list[Ticket]:
    """A cancelled parent closes its open and planned children, with the reason on each."""
    children = list(
        session.scalars(
            select(Ticket)
            .where(Ticket.parent_id == parent.id, Ticket.status.in_([*OPEN, PLANNED]))
            .order_by(Ticket.id)
        )
    )
    note = texts.render("cancelled", parent.language, number=parent.number, reason=reason or "—")
    for child in children:
        move(child, "close", session=session, actor=actor, now=now)
        child.resolution = note
        add_message(child, session=session, direction="internal", body=note, author=actor)
    return children


def lock_steps(parent: Ticket, *, session: Session) -> None:
    """Row-lock the parent's open and planned steps, before the parent is touched.

    A step being resolved holds its row and then waits for the parent (roll_up); whoever
    cancels the parent must take the steps first, or each waits for the other (a deadlock).
    """
    with session.no_autoflush:
        session.scalars(
            select(Ticket.id)
            .where(Ticket.parent_id == parent.id, Ticket.status.in_([*OPEN, PLANNED]))
            .order_by(Ticket.id)
            .with_for_update()
        ).all()


def lock_parent(parent_id: int, *, session: Session) -> Ticket:
    """The parent, row-locked: whoever holds it sees every child's committed status."""
    session.flush()
    parent = session.scalar(
        select(Ticket)
        .where(Ticket.id == parent_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if parent is None:
        raise LookupError(f"no parent ticket {parent_id}")
    return parent


def _children(parent: Ticket, *, session: Session) -> Sequence[Any]:
    """Id, status and stage of each child as the database has them now (not the session's)."""
    return session.execute(
        select(Ticket.id, Ticket.status, Ticket.stage)
        .where(Ticket.parent_id == parent.id)
        .order_by(Ticket.id)
    ).all()


def roll_up(
    parent_id: int, *, session: Session, actor: str, now: datetime
) -> list[NotificationRow]:
    """A child moved: open the next stage when this one is done; the parent follows."""
    parent = lock_parent(parent_id, session=session)
    if parent.status == CLOSED:
        return []  # cancelled (or closed after it was done): its children no longer count
    children = _children(parent, session=session)
    if all(c.status in DONE for c in children):
        return _finish(parent, session=session, now=now)
    notes: list[NotificationRow] = []
    if parent.status == RESOLVED:
        move(parent, "reopen", session=session, actor=actor, now=now)
        notes += _note(parent, "status", session=session, status=_status(parent))
    notes += _open_next_stage(parent, children, session=session, now=now)
    if parent.status in (NEW, ASSIGNED) and any(c.status in WORKED_ON for c in children):
        move(parent, "follow", session=session, actor="process", now=now)
    return notes


def _open_next_stage(
    parent: Ticket, children: Sequence[Any], *, session: Session, now: datetime
) -> list[NotificationRow]:
    """The first stage with work left opens its planned sub-tickets; done once, under the lock."""
    current = min(c.stage or 0 for c in children if c.status not in DONE)
    planned = [c.id for c in children if (c.stage or 0) == current and c.status == PLANNED]
    if not planned:
        return []
    opened = []
    for child_id in planned:
        child = session.get(Ticket, child_id, populate_existing=True)
        service = service_row(child.service_code, session) if child else None
        if child is None or service is None:
            continue
        start_clock(child, service, now, session=session)
        move(child, "open_stage", session=session, actor="process", now=now)
        opened.append(child)
    items = ", ".join(f"{_team_name(c, session=session)} ({c.number})" for c in opened)
    return _note(parent, "stage_started", session=session, items=items)


def _finish(parent: Ticket, *, session: Session, now: datetime) -> list[NotificationRow]:
    """The last child is done: the parent is resolved with a summary of what each step did."""
    if parent.status not in OPEN:
        return []
    children = session.scalars(
        select(Ticket).where(Ticket.parent_id == parent.id).order_by(Ticket.id)
    ).all()
    lines = [f"- {c.subject} ({c.number}): {_outcome_of(c, parent.language)}" for c in children]
    summary = texts.render("process_summary", parent.language, items="\n".join(lines))
    parent.resolution = summary
    add_message(
        parent,
        session=session,
        direction="outbound",
        body=summary,
        channel=parent.origin_channel,
        author="okno",
    )
    if parent.first_response_at is None:
        parent.first_response_at = now
    move(parent, "resolve", session=session, actor="process", now=now)
    extra = {"feedback_request": True, "ratings": [1, 2, 3, 4, 5]}
    return _note(
        parent,
        "resolved",
        session=session,
        kind=NotificationKind.resolved,
        extra=extra,
        text=summary,
    )


def _outcome_of(child: Ticket, language: str) -> str:
    if child.status == RESOLVED:
        return child.resolution or texts.status_name(RESOLVED, language)
    return texts.render("not_needed", language)


def _team_name(ticket: Ticket, *, session: Session) -> str:
    team = session.scalar(select(Team).where(Team.code == ticket.team_code))
    if team is None:
        return ticket.team_code
    return team.name_en if texts.lang(ticket.language) == "en" else team.name_ru


def _status(ticket: Ticket) -> str:
    return texts.status_name(ticket.status, ticket.language)


def _note(
    parent: Ticket,
    key: str,
    *,
    session: Session,
    kind: NotificationKind = NotificationKind.status,
    extra: dict[str, Any] | None = None,
    **values: Any,
) -> list[NotificationRow]:
    """One milestone message to the requester, on the parent and its origin channel."""
    text = texts.render(key, parent.language, number=parent.number, **values)
    row = notify.outbox(parent, kind, text, session=session, extra=extra)
    return [row] if row else []
