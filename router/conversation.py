"""What a requester may read about their own request, and a reply they write from the portal.

The status page (a status link's key) and "My requests" (a signed-in person) show the same
view: the request, its number, service, team, status, due time and the whole public
conversation — the requester's messages, the specialists' public comments, questions and the
resolution, and the status changes. Internal notes never leave the building.

A reply is an ordinary inbound message: stored by intake (the idempotency key), processed by
the intake job, threaded onto the ticket by `router.threading` (the API proved who writes and
names the ticket in `meta["portal_ticket"]`), so it reopens a resolved ticket within the
window exactly as an e-mail reply does.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import (
    Feedback,
    NotificationRow,
    Service,
    Team,
    Ticket,
    TicketEvent,
    TicketMessage,
    User,
)
from models.types import Attachment, Channel, IncomingMessage, utcnow
from router import ratings, texts
from router.lifecycle import process_cancel

# The status page and the list stop asking once a ticket is closed (nothing more will come).
FINAL = frozenset({"closed"})
# meta key the API sets on a reply it has proven (status key or sign-in): the ticket's id.
PORTAL_TICKET = "portal_ticket"


def _names(row: Any) -> dict[str, str] | None:
    if row is None:
        return None
    return {"code": row.code, "ru": row.name_ru, "en": row.name_en}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def summary(ticket: Ticket, *, session: Session) -> dict[str, Any]:
    """One line of "My requests": number, subject, status, service, team, due time, channel."""
    service = session.scalar(select(Service).where(Service.code == ticket.service_code))
    team = session.scalar(select(Team).where(Team.code == ticket.team_code))
    return {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": ticket.status,
        "status_name": {
            "ru": texts.status_name(ticket.status, "ru"),
            "en": texts.status_name(ticket.status, "en"),
        },
        "service": _names(service),
        "team": _names(team),
        "due_at": _iso(ticket.resolution_due_at),
        "channel": ticket.origin_channel,
        "language": texts.lang(ticket.language),
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "final": ticket.status in FINAL,
    }


def view(
    ticket: Ticket,
    *,
    session: Session,
    public_url: str,
    secret: bytes,
    grace_days: int,
    may_cancel: bool = True,
) -> dict[str, Any]:
    """The whole page: the summary, every public entry in time order, the rating links.

    `can_cancel` is the cancel endpoints' own rule (router/lifecycle/process_cancel.py);
    `may_cancel=False` when this door cannot cancel this ticket (a status link whose ticket
    was merged into another). `steps` are a process's sub-tickets in stage order.
    """
    data = summary(ticket, session=session)
    data["entries"] = entries(ticket, session=session)
    data["resolution"] = ticket.resolution if ticket.status in ("resolved", "closed") else None
    rateable = ratings.open_for_rating(ticket, grace_days=grace_days, now=utcnow())
    data["rating_urls"] = (
        {str(n): url for n, url in ratings.urls(public_url, secret, ticket.id).items()}
        if rateable
        else None
    )
    data["rating"] = session.scalar(select(Feedback.rating).where(Feedback.ticket_id == ticket.id))
    data["can_reply"] = ticket.merged_into_id is None
    data["can_cancel"] = may_cancel and process_cancel.cancellable(ticket, session=session)
    data["steps"] = steps(ticket, session=session)
    # Changes whenever anything on the page would: the page re-draws only then.
    data["version"] = _version(data)
    return data


def steps(ticket: Ticket, *, session: Session) -> list[dict[str, Any]]:
    """A process's steps as the requester follows them: number, what, who, status, stage."""
    children = session.scalars(
        select(Ticket).where(Ticket.parent_id == ticket.id).order_by(Ticket.stage, Ticket.id)
    ).all()
    if not children:
        return []
    services = {s.code: s for s in session.scalars(select(Service))}
    teams = {t.code: t for t in session.scalars(select(Team))}
    return [
        {
            "number": child.number,
            "subject": child.subject,
            "service": _names(services.get(child.service_code or "")),
            "team": _names(teams.get(child.team_code)),
            "status": child.status,
            "status_name": {
                "ru": texts.status_name(child.status, "ru"),
                "en": texts.status_name(child.status, "en"),
            },
            "stage": child.stage,
        }
        for child in children
        if child.number
    ]


def entries(ticket: Ticket, *, session: Session) -> list[dict[str, Any]]:
    """Messages in and out (never internal), the first notice we sent, the status changes."""
    found: list[dict[str, Any]] = []
    created = session.scalar(
        select(NotificationRow)
        .where(
            NotificationRow.ticket_id == ticket.id,
            NotificationRow.kind == "created",
            NotificationRow.status == "sent",
            NotificationRow.fallback_of_id.is_(None),
        )
        .order_by(NotificationRow.id)
        .limit(1)
    )
    if created is not None:
        found.append(_entry("notice", created.sent_at or created.created_at, "okno", created.text))
    staff = _staff_names(ticket, session=session)
    for message in session.scalars(
        select(TicketMessage)
        .where(
            TicketMessage.ticket_id == ticket.id,
            TicketMessage.direction.in_(("inbound", "outbound")),
        )
        .order_by(TicketMessage.id)
    ):
        inbound = message.direction == "inbound"
        who = "requester" if inbound else "staff"
        entry = _entry("message", message.created_at, who, message.body)
        entry["author"] = None if inbound else staff.get(message.author_user_id or 0)
        entry["channel"] = message.channel
        entry["attachments"] = [
            {"name": str(a.get("name") or ""), "size": int(a.get("size") or 0)}
            for a in (message.attachments or [])
            if isinstance(a, dict)
        ]
        found.append(entry)
    for event in session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "status")
        .order_by(TicketEvent.id)
    ):
        entry = _entry("status", event.created_at, "okno", "")
        entry["from"], entry["to"] = event.from_value, event.to_value
        entry["status_name"] = {
            "ru": texts.status_name(event.to_value or "", "ru"),
            "en": texts.status_name(event.to_value or "", "en"),
        }
        found.append(entry)
    found.extend(_team_changes(ticket, session=session))
    found.sort(key=lambda e: (e["at"] or "", e["order"]))
    for entry in found:
        del entry["order"]
    return found


_ORDER = {"notice": 1, "message": 0, "status": 2, "team": 3}


def _team_changes(ticket: Ticket, *, session: Session) -> list[dict[str, Any]]:
    """Reassignments to another team (the requester is told which team has it now)."""
    found = []
    teams = {t.code: t for t in session.scalars(select(Team))}
    for event in session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "reassigned")
        .order_by(TicketEvent.id)
    ):
        moved = event.data or {}
        before = (moved.get("from") or {}).get("team")
        after = (moved.get("to") or {}).get("team")
        if not after or after == before:
            continue  # a service change within the team is the team's own business
        entry = _entry("team", event.created_at, "okno", "")
        entry["team"] = _names(teams.get(after)) or {"code": after, "ru": after, "en": after}
        found.append(entry)
    return found


def _entry(kind: str, at: datetime | None, who: str, text: str) -> dict[str, Any]:
    return {"kind": kind, "at": _iso(at), "who": who, "text": text, "order": _ORDER[kind]}


def _staff_names(ticket: Ticket, *, session: Session) -> dict[int, str]:
    ids = select(TicketMessage.author_user_id).where(
        TicketMessage.ticket_id == ticket.id, TicketMessage.author_user_id.is_not(None)
    )
    return {u.id: u.name for u in session.scalars(select(User).where(User.id.in_(ids)))}


def _version(data: dict[str, Any]) -> str:
    parts = [
        data["status"],
        str(len(data["entries"])),
        data["entries"][-1]["at"] if data["entries"] else "",
        str(data["rating"]),
        data["team"]["code"] if data["team"] else "",
        str(data["due_at"]),
        str(data["can_cancel"]),
        ",".join(f"{s['number']}:{s['status']}" for s in data["steps"]),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def reply_message(
    ticket: Ticket,
    text: str,
    *,
    submission_id: str | None,
    sender: str | None,
    attachments: list[Attachment] | None = None,
) -> IncomingMessage:
    """The portal reply as an inbound message of the web channel, naming its ticket.

    The idempotency key is scoped to the ticket and the page's submission id, so a double
    click stores one reply; without an id every reply is new.
    """
    key = submission_id or str(uuid.uuid4())
    external = f"portal-reply|{ticket.id}|{key}"
    if len(external) > 255:
        external = "portal-reply|" + hashlib.sha256(external.encode()).hexdigest()
    return IncomingMessage(
        channel=Channel.webform,
        external_id=external,
        # The requester of record: the reply is theirs (the API checked the key or sign-in).
        sender_address=ticket.requester_address or sender,
        sender_name=ticket.requester_name,
        text=text.strip(),
        attachments=attachments or [],
        ticket_ref=ticket.number,
        language=texts.lang(ticket.language),
        meta={PORTAL_TICKET: ticket.id, "portal_reply": True},
    )
