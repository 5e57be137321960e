"""The requester withdraws a request: a process's parent closes with every open and planned step.

A requester cancels on their own channels: the status link (`POST /api/v1/messages/{id}/cancel`,
api/processes.py), `/cancel NUMBER` in the Telegram bot (router/actions.py), or a reply that is
only "отменить"/"cancel" to a process's mails (router/pipeline.py). Staff cancel with `close`.
Every status change goes through `move` (the requester's own `cancel` move) with its audit
event; the requester hears one message, naming the steps that were stopped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import NotificationRow, Ticket
from models.types import NotificationKind
from router import notify, texts
from router.lifecycle.outcome import Outcome
from router.lifecycle.processes import cancel_children, lock_parent, lock_steps
from router.lifecycle.records import add_message
from router.lifecycle.states import OPEN, RESOLVED, WAITING, Conflict, move

# A reply that is only one of these (punctuation and case aside) asks to cancel a process.
CANCEL_WORDS = frozenset(
    {
        "отменить",
        "отмените",
        "отменить заявку",
        "отменить процесс",
        "отмените заявку",
        "отмените процесс",
        "cancel",
        "cancel it",
        "cancel the request",
        "cancel request",
        "cancel the process",
        "cancel process",
    }
)


@dataclass
class Cancelled(Outcome):
    """The outcome, and the numbers of the steps that were stopped with the request."""

    stopped: list[str] = field(default_factory=list)


def asks_to_cancel(text: str | None) -> bool:
    """The whole reply (the channel took quotes and signature off) is a cancel word and no more."""
    words = re.sub(r"[^\w\s]", " ", (text or "").strip().lower())
    return " ".join(words.split()) in CANCEL_WORDS


def cancels_by_reply(ticket: Ticket, text: str | None, *, session: Session) -> bool:
    """A keyword reply is about cancelling a process; to a plain ticket it stays a message.

    A one-word "cancel" to an ordinary request is too easily an answer to something else
    ("book or cancel?"), so only a process's parent takes it. A ticket waiting for the
    requester's answer takes the reply as that answer.
    """
    if ticket.parent_id is not None or ticket.status == WAITING or not asks_to_cancel(text):
        return False
    found = session.scalar(select(Ticket.id).where(Ticket.parent_id == ticket.id).limit(1))
    return found is not None


def by_reply(ticket: Ticket, *, session: Session, via: str, now: datetime) -> Outcome:
    """Cancel on a keyword reply; a finished process is not reopened by it, only told so."""
    try:
        return cancel(ticket, session=session, via=via, now=now)
    except Conflict:
        status = texts.status_name(ticket.status, ticket.language)
        text = texts.render("cancel_refused", ticket.language, number=ticket.number, status=status)
        row = notify.outbox(ticket, NotificationKind.info, text, session=session)
        return Outcome(ticket, [row] if row else [])


def refusal(ticket: Ticket, *, session: Session) -> Conflict | None:
    """Why the requester may not cancel this ticket now (None: they may).

    The one rule for every door: the status link's and My requests' cancel endpoints, and
    the `can_cancel` the portal's follow page shows its button by (router/conversation.py).
    """
    if ticket.parent_id is not None:
        parent = session.get(Ticket, ticket.parent_id)
        number = parent.number if parent else "?"
        return Conflict(
            f"{ticket.number} is one step of {number}; cancel {number} to stop the whole process",
            code="part_of_process",
            parent=number,
        )
    if ticket.status not in OPEN:
        hint = "reply to reopen it" if ticket.status == RESOLVED else "it was closed before"
        return Conflict(
            f"{ticket.number} is already {ticket.status}; there is nothing to cancel ({hint})",
            code="not_cancellable",
            status=ticket.status,
        )
    return None


def cancellable(ticket: Ticket, *, session: Session) -> bool:
    return refusal(ticket, session=session) is None


def _refuse(ticket: Ticket, *, session: Session) -> None:
    found = refusal(ticket, session=session)
    if found is not None:
        raise found


def cancel(
    ticket: Ticket,
    *,
    session: Session,
    via: str,
    now: datetime,
    reason: str | None = None,
    reply_channel: str | None = None,
    reply_to: str | None = None,
) -> Cancelled:
    """Close the requester's open request and its open and planned steps, with the reason.

    Refused (Conflict) for a step of a process (the process is cancelled as a whole) and for a
    request already resolved or closed. The one message goes to the origin channel, or to
    `reply_channel`/`reply_to` when the requester asked on another channel.
    """
    early = refusal(ticket, session=session)
    if early is not None and early.code == "part_of_process":  # a step stays a step: no locks
        raise early
    lock_steps(ticket, session=session)  # steps first, parent second: no deadlock
    ticket = lock_parent(ticket.id, session=session)  # as the database has it now
    _refuse(ticket, session=session)  # the status as the database has it
    actor = f"requester via {via}"
    move(ticket, "cancel", session=session, actor=actor, now=now)
    note = texts.render("requester_cancelled", ticket.language, reason=reason or "—")
    ticket.resolution = note
    add_message(ticket, session=session, direction="internal", body=note, author=actor)
    stopped = cancel_children(ticket, session=session, actor=actor, now=now, reason=reason)
    told = _tell(ticket, stopped, session=session, channel=reply_channel, to=reply_to)
    return Cancelled(ticket, told, stopped=[c.number or "" for c in stopped])


def _tell(
    ticket: Ticket,
    stopped: list[Ticket],
    *,
    session: Session,
    channel: str | None,
    to: str | None,
) -> list[NotificationRow]:
    items = ", ".join(f"{c.number} ({c.team_code})" for c in stopped)
    key = "cancelled_process" if stopped else "cancelled_request"
    text = texts.render(key, ticket.language, number=ticket.number, items=items)
    row = notify.outbox(
        ticket, NotificationKind.status, text, session=session, channel=channel, recipient=to
    )
    return [row] if row else []
