"""Every action a specialist takes on a ticket, and the requester's feedback.

Plain functions with keyword-only arguments; the API (and the worker, for feedback) only
calls these. Permissions are the caller's business (api/auth.py); these functions enforce
the lifecycle (router/lifecycle/states.py), the optimistic version check and the audit
trail, and return the outbox rows to enqueue once the caller has committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Feedback, NotificationRow, Ticket, User, UserTeam
from models.types import NotificationKind, utcnow
from router import notify, ratings, sla, texts
from router.lifecycle.outcome import Outcome
from router.lifecycle.processes import followed, lock_steps, refuse_open_children
from router.lifecycle.records import add_message, record_event
from router.lifecycle.states import (
    RESOLVED,
    Conflict,
    InvalidInput,
    actor_of,
    check,
    load,
    move,
)

# A sub-ticket's own status changes are not the requester's news; its questions and comments are.
QUIET_IN_PROCESS = (NotificationKind.status, NotificationKind.resolved)


def _notify(
    ticket: Ticket, kind: NotificationKind, key: str, *, session: Session, **values: Any
) -> list[NotificationRow]:
    if ticket.parent_id is not None and kind in QUIET_IN_PROCESS:
        return []  # the parent tells the requester of a process's milestones, once each
    text = texts.render(key, ticket.language, number=ticket.number, **values)
    extra = {"feedback_request": True, "ratings": [1, 2, 3, 4, 5]} if key == "resolved" else None
    row = notify.outbox(ticket, kind, text, session=session, extra=extra)
    return [row] if row else []


def _status_note(ticket: Ticket, *, session: Session) -> list[NotificationRow]:
    name = texts.status_name(ticket.status, ticket.language)
    return _notify(ticket, NotificationKind.status, "status", session=session, status=name)


def _responded(ticket: Ticket, now: datetime) -> None:
    """The first public answer to the requester stops the response clock."""
    sla.responded(ticket, now)


def _set_assignee(ticket: Ticket, user: User, action: str, *, session: Session, actor: str) -> None:
    old = session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    ticket.assignee_id = user.id
    record_event(
        ticket,
        "assigned",
        session=session,
        from_value=old.email if old else None,
        to_value=user.email,
        actor=actor,
        data={"action": action, "assignee_id": user.id},
    )


def claim(
    *, session: Session, ticket_number: str, user_id: int, expected_version: int | None = None
) -> Outcome:
    """Take the ticket: it becomes the caller's (a colleague's ticket needs a lead's `assign`)."""
    ticket = load(ticket_number, session=session, expected_version=expected_version)
    user = actor_of(user_id, session=session)
    check(ticket, "claim")
    if ticket.assignee_id not in (None, user.id):
        owner = session.get(User, ticket.assignee_id)
        raise Conflict(
            f"{ticket.number} is assigned to {owner.email if owner else ticket.assignee_id}; "
            "a lead can reassign it",
            code="already_assigned",
        )
    if ticket.assignee_id != user.id:
        _set_assignee(ticket, user, "claim", session=session, actor=user.email)
    now = utcnow()
    move(ticket, "claim", session=session, actor=user.email, now=now)
    return followed(Outcome(ticket), session=session, actor=user.email, now=now)


def assign(
    *,
    session: Session,
    ticket_number: str,
    user_id: int,
    assignee_id: int,
    expected_version: int | None = None,
) -> Outcome:
    """Give the ticket to a member of its team (leads do this)."""
    ticket = load(ticket_number, session=session, expected_version=expected_version)
    actor = actor_of(user_id, session=session)
    assignee = session.get(User, assignee_id)
    if assignee is None or not assignee.active:
        raise InvalidInput(f"no active user {assignee_id}", code="unknown_user")
    member = session.get(UserTeam, (assignee.id, ticket.team_code))
    if member is None:
        raise InvalidInput(
            f"{assignee.email} is not a member of team {ticket.team_code}",
            code="assignee_not_in_team",
        )
    check(ticket, "assign")
    if ticket.assignee_id != assignee.id:
        _set_assignee(ticket, assignee, "assign", session=session, actor=actor.email)
    now = utcnow()
    move(ticket, "assign", session=session, actor=actor.email, now=now)
    return followed(Outcome(ticket), session=session, actor=actor.email, now=now)


def start(
    *, session: Session, ticket_number: str, user_id: int, expected_version: int | None = None
) -> Outcome:
    """Work begins (or resumes after the requester answered by other means): in_progress."""
    ticket = load(ticket_number, session=session, expected_version=expected_version)
    user = actor_of(user_id, session=session)
    check(ticket, "start")
    if ticket.assignee_id is None:
        _set_assignee(ticket, user, "start", session=session, actor=user.email)
    now = utcnow()
    move(ticket, "start", session=session, actor=user.email, now=now)
    return followed(Outcome(ticket), session=session, actor=user.email, now=now)


def comment(
    *,
    session: Session,
    ticket_number: str,
    user_id: int,
    text: str,
    public: bool,
    expected_version: int | None = None,
) -> Outcome:
    """A note on the ticket; a public one also goes to the requester through the origin channel."""
    ticket = load(ticket_number, session=session, expected_version=expected_version)
    user = actor_of(user_id, session=session)
    now = utcnow()
    message = add_message(
        ticket,
        session=session,
        direction="outbound" if public else "internal",
        body=text,
        channel=ticket.origin_channel if public else None,
        author=user.email,
        author_user_id=user.id,
    )
    notes: list[NotificationRow] = []
    if public:
        notes = _notify(ticket, NotificationKind.comment, "comment", session=session, text=text)
        _responded(ticket, now)
    session.flush()
    record_event(
        ticket,
        "comment",
        session=session,
        actor=user.email,
        data={"public": public, "message_id": message.id, "notified": bool(notes)},
    )
    ticket.updated_at = now
    return Outcome(ticket, notes)


def ask(
    *,
    session: Session,
    ticket_number: str,
    user_id: int,
    text: str,
    expected_version: int | None = None,
) -> Outcome:
    """Ask the requester a question: waiting_for_requester, the SLA clock stops until they answer."""
    ticket = load(ticket_number, session=session, expected_version=expected_version)
    user = actor_of(user_id, session=session)
    check(ticket, "ask")
    if not ticket.requester_address:
        # Waiting for someone who never gets the question would only stop the SLA clock.
        raise Conflict(
            f"{ticket.number} has no requester address to ask; add an internal note instead",
            code="requester_unreachable",
        )
    now = utcnow()
    add_message(
        ticket,
        session=session,
        direction="outbound",
        body=text,
        channel=ticket.origin_channel,
        author=user.email,
        author_user_id=user.id,
    )
    _responded(ticket, now)
    move(ticket, "ask", session=session, actor=user.email, now=now)
    notes = _notify(ticket, NotificationKind.clarify, "ask", session=session, text=text)
    record_event(ticket, "asked", session=session, actor=user.email, data={"notified": bool(notes)})
    return followed(Outcome(ticket, notes), session=session, actor=user.email, now=now)


def resolve(
    *,
    session: Session,
    ticket_number: str,
    user_id: int,
    resolution: str,
    expected_version: int | None = None,
) -> Outcome:
    """Resolved with a resolution text; the requester gets it with a request to rate us."""
    ticket = load(ticket_number, session=session, expected_version=expected_version)
    user = actor_of(user_id, session=session)
    check(ticket, "resolve")
    refuse_open_children(ticket, session=session)
    now = utcnow()
    ticket.resolution = resolution
    add_message(
        ticket,
        session=session,
        direction="outbound",
        body=resolution,
        channel=ticket.origin_channel,
        author=user.email,
        author_user_id=user.id,
    )
    _responded(ticket, now)
    move(ticket, "resolve", session=session, actor=user.email, now=now)
    notes = _notify(ticket, NotificationKind.resolved, "resolved", session=session, text=resolution)
    return followed(Outcome(ticket, notes), session=session, actor=user.email, now=now)


def close(
    *,
    session: Session,
    ticket_number: str,
    user_id: int,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Outcome:
    """Close; a ticket closed without being resolved first tells the requester so."""
    ticket = load(ticket_number, session=session, expected_version=expected_version)
    user = actor_of(user_id, session=session)
    was_resolved = ticket.status == RESOLVED
    if ticket.parent_id is None:
        lock_steps(ticket, session=session)  # a process's steps close with it
    now = utcnow()
    move(ticket, "close", session=session, actor=user.email, now=now)
    _internal(ticket, reason, "Closed", user, session=session)
    outcome = Outcome(ticket, [] if was_resolved else _status_note(ticket, session=session))
    return followed(outcome, session=session, actor=user.email, now=now, reason=reason)


def reopen(
    *,
    session: Session,
    ticket_number: str,
    user_id: int,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Outcome:
    """Back to work; a merged duplicate stays closed (reopen the ticket it was merged into)."""
    ticket = load(ticket_number, session=session, expected_version=expected_version)
    user = actor_of(user_id, session=session)
    if ticket.merged_into_id is not None:
        target = session.get(Ticket, ticket.merged_into_id)
        raise Conflict(
            f"{ticket.number} was merged into {target.number if target else '?'}; reopen that one",
            code="merged",
        )
    now = utcnow()
    move(ticket, "reopen", session=session, actor=user.email, now=now)
    _internal(ticket, reason, "Reopened", user, session=session)
    outcome = Outcome(ticket, _status_note(ticket, session=session))
    return followed(outcome, session=session, actor=user.email, now=now)


def _internal(
    ticket: Ticket, text: str | None, label: str, user: User, *, session: Session
) -> None:
    """A reason given with an action is kept as an internal note, where specialists read notes."""
    if text:
        add_message(
            ticket,
            session=session,
            direction="internal",
            body=f"{label}: {text}",
            author=user.email,
            author_user_id=user.id,
        )


def record_feedback(
    *,
    session: Session,
    ticket_number: str,
    rating: int,
    comment: str | None,
    channel: str | None,
    recorded_by: str | None = None,
    expected_version: int | None = None,
) -> Outcome:
    """The requester's rating of a resolved ticket; one per ticket, a second one replaces it."""
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise InvalidInput(f"rating must be an integer from 1 to 5, not {rating!r}", field="rating")
    ticket = load(ticket_number, session=session, expected_version=expected_version)
    check(ticket, "feedback")
    row = session.scalar(select(Feedback).where(Feedback.ticket_id == ticket.id))
    old = row.rating if row else None
    if row is None:
        row = Feedback(ticket_id=ticket.id)
        session.add(row)
    row.rating, row.comment, row.channel = rating, comment, channel
    record_event(
        ticket,
        "feedback",
        session=session,
        from_value=None if old is None else str(old),
        to_value=str(rating),
        actor=f"requester via {channel or 'unknown channel'}",
        data={"comment": comment, "recorded_by": recorded_by},
    )
    # Touching the ticket bumps its version, so two ratings at once cannot both insert a row.
    ticket.updated_at = utcnow()
    return Outcome(ticket, _alert_lead(ticket, rating, old, comment, session=session))


def _alert_lead(
    ticket: Ticket, rating: int, old: int | None, comment: str | None, *, session: Session
) -> list[NotificationRow]:
    """A rating of 1-2 (newly so) goes to the leads of the ticket's team by e-mail."""
    if rating > ratings.ALERT_AT_MOST or (old is not None and old <= ratings.ALERT_AT_MOST):
        return []
    text = texts.render(
        "low_rating", ticket.language, number=ticket.number, rating=rating, comment=comment or "—"
    )
    rows = []
    for lead in ratings.team_leads(ticket.team_code, session=session):
        row = notify.outbox(
            ticket, NotificationKind.info, text, session=session, channel="email", recipient=lead
        )
        if row is not None:
            rows.append(row)
    return rows
