"""Outbound webhooks, the outbox side: a ticket event becomes one delivery row per subscriber.

The rows are written in the transaction that records the event, so a delivery exists exactly
when the event does; the jobs that POST them are enqueued only after that transaction commits
(and the sweeper re-enqueues any whose job was lost), which makes delivery at-least-once.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Employee, Ticket, TicketEvent, User, WebhookDelivery, WebhookSubscription
from models.types import utcnow
from router import catalog_cache
from router.webhook_jobs import enqueue_deliveries

log = logging.getLogger(__name__)

# TicketEvent.kind → the public event names it announces.
_BY_KIND = {
    "created": ("ticket.created",),
    "status": ("ticket.status_changed",),
    "comment": ("ticket.commented",),
    "requester_message": ("ticket.commented",),
    "sla_breached": ("sla.breached",),
}
_PENDING = "okno_webhook_pending"
_HOOKED = "okno_webhook_hooked"


def event_names(event: TicketEvent) -> list[str]:
    names = list(_BY_KIND.get(event.kind, ()))
    if event.kind == "status" and event.to_value == "resolved":
        names.append("ticket.resolved")
    return names


def enqueue_webhooks(*, session: Session, ticket: Ticket, event: TicketEvent) -> list[str]:
    """Write a delivery for every subscription that wants this event; returns their ids."""
    names = event_names(event)
    if not names:
        return []
    # No autoflush: reading subscribers must not write the caller's changes early (and take
    # SQLite's write lock before the caller commits).
    if not catalog_cache.cached("webhooks-active", lambda: _any_active(session)):
        return []
    with session.no_autoflush:
        found = session.scalars(select(WebhookSubscription).where(WebhookSubscription.active))
        wanted = [(n, s) for s in found if _wants(s, ticket) for n in names if n in s.events]
        ids = [_add_delivery(sub, n, ticket, event, session=session) for n, sub in wanted]
    if ids:
        _after_commit(session).extend(ids)
    return ids


def _any_active(session: Session) -> bool:
    with session.no_autoflush:
        query = select(WebhookSubscription.id).where(WebhookSubscription.active).limit(1)
        return session.scalar(query) is not None


def _wants(sub: WebhookSubscription, ticket: Ticket) -> bool:
    if sub.service_code is not None:
        return sub.service_code == ticket.service_code
    if sub.team_code is not None:
        return sub.team_code == ticket.team_code
    return True


def _add_delivery(
    sub: WebhookSubscription, name: str, ticket: Ticket, event: TicketEvent, *, session: Session
) -> str:
    delivery_id = uuid.uuid4().hex
    body = {
        "id": delivery_id,
        "event": name,
        "at": utcnow().isoformat(),
        "ticket": ticket_json(ticket, session=session),
        "change": {
            "kind": event.kind,
            "from": event.from_value,
            "to": event.to_value,
            "actor": event.actor,
        },
    }
    session.add(
        WebhookDelivery(
            id=delivery_id,
            subscription_id=sub.id,
            event=name,
            ticket_id=ticket.id,
            body=json.dumps(body, ensure_ascii=False, default=str),
        )
    )
    return delivery_id


def ticket_json(ticket: Ticket, *, session: Session) -> dict[str, Any]:
    """The ticket as subscribers see it: routing, state, requester and the SLA due times."""
    assignee = session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "service": ticket.service_code,
        "team": ticket.team_code,
        "status": ticket.status,
        "priority": ticket.priority,
        "channel": ticket.origin_channel,
        "requester": _requester(ticket, session=session),
        "assignee": assignee.email if assignee else None,
        "response_due_at": _iso(ticket.response_due_at),
        "resolution_due_at": _iso(ticket.resolution_due_at),
        "created_at": _iso(ticket.created_at),
        "resolved_at": _iso(ticket.resolved_at),
    }


def _requester(ticket: Ticket, *, session: Session) -> dict[str, Any]:
    person = session.get(Employee, ticket.requester_id) if ticket.requester_id else None
    return {
        "address": ticket.requester_address,
        "name": ticket.requester_name,
        "verified": ticket.requester_verified,
        "email": person.email if person else None,
        "department": person.department if person else None,
        "branch": person.branch if person else None,
        "manager_email": person.manager_email if person else None,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _after_commit(session: Session) -> list[str]:
    """The ids waiting for this session's commit; the jobs are enqueued once it succeeds."""
    if not session.info.get(_HOOKED):
        session.info[_HOOKED] = True
        sa_event.listen(session, "after_commit", _enqueue_committed)
        sa_event.listen(session, "after_soft_rollback", _forget)
    pending: list[str] = session.info.setdefault(_PENDING, [])
    return pending


def _enqueue_committed(session: Session) -> None:
    ids = session.info.pop(_PENDING, [])
    if not ids:
        return
    try:
        enqueue_deliveries(ids)
    except Exception:  # the change is committed; its rows wait for the sweeper instead
        log.exception("webhook deliveries %s not enqueued; the sweeper will", ids)


def _forget(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        session.info.pop(_PENDING, None)
