"""The ticket lifecycle as an explicit state machine: the table, its named errors, the checks.

`TRANSITIONS` is the one place that says which action is allowed from which status and where
it leads; router/workflow.py and router/workflow_moves.py apply it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models.db import NotificationRow, Ticket, User
from models.types import TicketStatus
from router import sla
from router.tickets import by_number, set_status

NEW, ASSIGNED, IN_PROGRESS = TicketStatus.new, TicketStatus.assigned, TicketStatus.in_progress
WAITING, RESOLVED, CLOSED = (
    TicketStatus.waiting_for_requester,
    TicketStatus.resolved,
    TicketStatus.closed,
)
OPEN = (NEW, ASSIGNED, IN_PROGRESS, WAITING)

# The state machine: action → {status it is allowed from: status it leads to}.
# Claiming or assigning a ticket someone already works on keeps its status; reopening goes
# back to `assigned` when the ticket still has an assignee (see check).
TRANSITIONS: dict[str, dict[str, str]] = {
    "claim": {NEW: ASSIGNED, ASSIGNED: ASSIGNED, IN_PROGRESS: IN_PROGRESS, WAITING: WAITING},
    "assign": {NEW: ASSIGNED, ASSIGNED: ASSIGNED, IN_PROGRESS: IN_PROGRESS, WAITING: WAITING},
    "start": {NEW: IN_PROGRESS, ASSIGNED: IN_PROGRESS, WAITING: IN_PROGRESS},
    "ask": {NEW: WAITING, ASSIGNED: WAITING, IN_PROGRESS: WAITING},
    "resolve": {s: RESOLVED for s in OPEN},
    "close": {**{s: CLOSED for s in OPEN}, RESOLVED: CLOSED},
    "reopen": {RESOLVED: NEW, CLOSED: NEW},
    "reassign": {NEW: NEW, ASSIGNED: NEW, IN_PROGRESS: NEW, WAITING: WAITING},
    "merge": {s: CLOSED for s in OPEN},
    "feedback": {RESOLVED: RESOLVED, CLOSED: CLOSED},
}
# Actions that do not depend on the status (they never change it).
ANY_STATUS = ("comment", "link")


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


@dataclass
class ActionResult:
    """The changed ticket and the outbox rows to enqueue after commit."""

    ticket: Ticket
    notifications: list[NotificationRow] = field(default_factory=list)

    @property
    def notification_ids(self) -> list[int]:
        return [n.id for n in self.notifications]


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
    moves = TRANSITIONS[action]
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
    set_status(ticket, target, session=session, actor=actor, now=now)


def actor_of(user_id: int, *, session: Session) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise InvalidInput(f"no active user {user_id}", field="user_id")
    return user
