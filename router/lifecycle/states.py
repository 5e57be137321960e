"""The ticket lifecycle as an explicit state machine: the table, its named errors, the checks.

`TRANSITIONS` is the one place that says which action is allowed from which status and where
it leads; `move` is the one place a ticket's status is assigned. The specialists' actions
(router/lifecycle/actions.py, moves.py) and the worker's replies (router/pipeline.py) apply it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models.db import Ticket, User
from models.types import TicketStatus
from router import sla
from router.lifecycle.records import by_number, record_event

NEW, ASSIGNED, IN_PROGRESS = TicketStatus.new, TicketStatus.assigned, TicketStatus.in_progress
WAITING, RESOLVED, CLOSED = (
    TicketStatus.waiting_for_requester,
    TicketStatus.resolved,
    TicketStatus.closed,
)
OPEN = (NEW, ASSIGNED, IN_PROGRESS, WAITING)
# A later stage's sub-ticket of a process (router/lifecycle/processes.py): in no queue, no SLA
# clock, nothing to do yet but to be closed as not needed.
PLANNED = TicketStatus.planned

# The state machine: action → {status it is allowed from: status it leads to}.
# Claiming or assigning a ticket someone already works on keeps its status; reopening goes
# back to `assigned` when the ticket still has an assignee (see check).
TRANSITIONS: dict[str, dict[str, str]] = {
    "claim": {NEW: ASSIGNED, ASSIGNED: ASSIGNED, IN_PROGRESS: IN_PROGRESS, WAITING: WAITING},
    "assign": {NEW: ASSIGNED, ASSIGNED: ASSIGNED, IN_PROGRESS: IN_PROGRESS, WAITING: WAITING},
    "start": {NEW: IN_PROGRESS, ASSIGNED: IN_PROGRESS, WAITING: IN_PROGRESS},
    "ask": {NEW: WAITING, ASSIGNED: WAITING, IN_PROGRESS: WAITING},
    "resolve": {s: RESOLVED for s in OPEN},
    "close": {**{s: CLOSED for s in OPEN}, RESOLVED: CLOSED, PLANNED: CLOSED},
    "reopen": {RESOLVED: NEW, CLOSED: NEW},
    "reassign": {NEW: NEW, ASSIGNED: NEW, IN_PROGRESS: NEW, WAITING: WAITING},
    "merge": {s: CLOSED for s in OPEN},
    "feedback": {RESOLVED: RESOLVED, CLOSED: CLOSED},
}
# Actions that do not depend on the status (they never change it).
ANY_STATUS = ("comment", "link")
# What the requester's own messages do (the worker applies these; the API does not offer them):
# a reply to our question resumes the work, a reply to a finished ticket reopens it; the
# requester may withdraw a request still open (router/lifecycle/process_cancel.py).
REQUESTER_MOVES: dict[str, dict[str, str]] = {
    "answer": {WAITING: IN_PROGRESS},
    "reopen": TRANSITIONS["reopen"],
    "cancel": {s: CLOSED for s in OPEN},
}
# What a process does on its own (router/lifecycle/processes.py): a stage opens when the one
# before is done; the parent ticket follows its children.
PROCESS_MOVES: dict[str, dict[str, str]] = {
    "open_stage": {PLANNED: NEW},
    "follow": {NEW: IN_PROGRESS, ASSIGNED: IN_PROGRESS},
}


class WorkflowError(Exception):
    """Base of the named outcomes of an action; `code` is machine-readable."""

    code = "workflow_error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message, self.details = message, details
        self.code = code or self.code


class TicketNotFound(WorkflowError):
    code = "not_found"


class InvalidTransition(WorkflowError):
    """The action is not allowed from the ticket's status; `details['allowed']` lists what is."""

    code = "invalid_transition"


class VersionMismatch(WorkflowError):
    """The caller's If-Match version is not the ticket's current one."""

    code = "version_mismatch"


class Conflict(WorkflowError):
    """The action contradicts the ticket's current state (already assigned, already linked...)."""

    code = "conflict"


class InvalidInput(WorkflowError):
    """A value the action cannot use (unknown service, assignee outside the team...)."""

    code = "invalid"


def allowed_actions(status: str) -> list[str]:
    """Every action allowed from `status`, the status-independent ones included."""
    return [a for a, moves in TRANSITIONS.items() if status in moves] + list(ANY_STATUS)


def load(number: str, *, session: Session, expected_version: int | None = None) -> Ticket:
    """The ticket by number, checked against the caller's If-Match version."""
    ticket = by_number(number, session=session)
    if ticket is None:
        raise TicketNotFound(f"no ticket {number}")
    if expected_version is not None and expected_version != ticket.version:
        raise VersionMismatch(
            f"{ticket.number} is at version {ticket.version}, not {expected_version}; "
            "reload it and retry",
            current=ticket.version,
        )
    return ticket


def check(ticket: Ticket, action: str) -> str:
    """The status `action` leads to from the ticket's status, or InvalidTransition."""
    moves = TRANSITIONS.get(action) or REQUESTER_MOVES.get(action) or PROCESS_MOVES[action]
    if ticket.status not in moves:
        allowed = [a for a in allowed_actions(ticket.status) if a not in ANY_STATUS]
        raise InvalidTransition(
            f"cannot {action} a ticket that is {ticket.status}; "
            f"allowed from {ticket.status}: {', '.join(allowed) or 'nothing'}",
            status=ticket.status,
            allowed=allowed,
        )
    if action == "reopen":
        return ASSIGNED if ticket.assignee_id else NEW
    return moves[ticket.status]


def move(ticket: Ticket, action: str, *, session: Session, actor: str, now: datetime) -> None:
    """Apply `action`'s status change; the SLA clock stops while we wait or the work is done.

    A resolved or closed ticket keeps its clock stopped, so reopening it (back to an open
    status) pushes the due dates by the time it spent finished instead of being overdue at once.
    """
    target = check(ticket, action)
    ticket.updated_at = now  # also bumps the version: the ETag covers messages and events
    if target == ticket.status:
        return
    if target in OPEN and target != WAITING:
        sla.resume(ticket, now)
    if target in (WAITING, RESOLVED, CLOSED):
        # Idempotent: waiting → resolved keeps the earlier start; resolving stops the clocks.
        sla.pause(ticket, now, finished=target in (RESOLVED, CLOSED))
    _set_status(ticket, target, action, session=session, actor=actor, now=now)


def _set_status(
    ticket: Ticket, status: str, action: str, *, session: Session, actor: str, now: datetime
) -> None:
    """Assign the status, stamp when the work was done (or undone), record the move."""
    old, ticket.status = ticket.status, status
    if status == RESOLVED:
        ticket.resolved_at = now
    if status == CLOSED:
        ticket.closed_at = now
    if action == "reopen":
        ticket.resolved_at = ticket.closed_at = None
    data = {"action": action}
    record_event(
        ticket, "status", session=session, from_value=old, to_value=status, actor=actor, data=data
    )


def actor_of(user_id: int, *, session: Session) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise InvalidInput(f"no active user {user_id}", field="user_id")
    return user
