"""What a chat bot may know about its requester: the linked employee, their tickets, our notes.

Handed to the Telegram gateway by scripts/ and api/ (like intake's `accept`), so the channel
reads no tickets itself; the answers are the value types of models/types.py.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, sessionmaker

from models.db import (
    EmployeeAddress,
    LinkCode,
    NotificationRow,
    Service,
    Team,
    Ticket,
    session_scope,
)
from models.types import OPEN_STATUSES, Channel, Requester, SentNote, TicketView, utcnow

MAX_LISTED = 20


class RequesterViews:
    """Read models for the bot's handlers; every call is one short session (run it off the loop)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def requester(self, chat: str) -> Requester:
        with session_scope(self.sessions) as session:
            link = session.scalar(
                select(EmployeeAddress).where(
                    EmployeeAddress.channel == Channel.telegram.value,
                    EmployeeAddress.address == chat,
                )
            )
            if link is None:
                return Requester(chat)
            person = link.employee
            return Requester(chat, person.id, person.name or None, person.timezone)

    def pending_code(self, chat: str) -> bool:
        with session_scope(self.sessions) as session:
            found = session.scalar(
                select(LinkCode.id).where(
                    LinkCode.channel == Channel.telegram.value,
                    LinkCode.address == chat,
                    LinkCode.used_at.is_(None),
                    LinkCode.expires_at > utcnow(),
                )
            )
            return found is not None

    def open_tickets(self, who: Requester) -> list[TicketView]:
        with session_scope(self.sessions) as session:
            rows = session.scalars(
                _own(who)
                .where(Ticket.status.in_([s.value for s in OPEN_STATUSES]))
                .order_by(Ticket.id.desc())
                .limit(MAX_LISTED)
            ).all()
            return [_view(t, session) for t in rows]

    def ticket(self, who: Requester, number: str) -> TicketView | None:
        """One of the requester's own tickets; someone else's is as good as absent."""
        with session_scope(self.sessions) as session:
            row = session.scalar(_own(who).where(Ticket.number == number.upper()))
            return _view(row, session) if row else None

    def sent_note(self, external_id: str) -> SentNote | None:
        with session_scope(self.sessions) as session:
            row = session.scalar(
                select(NotificationRow)
                .where(NotificationRow.external_id == external_id)
                .order_by(NotificationRow.id.desc())
                .limit(1)
            )
            if row is None:
                return None
            ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
            number = ticket.number if ticket and ticket.number else ""
            return SentNote(number, row.kind, row.extra.get("expects"))


def _own(who: Requester) -> Select[Any]:
    """Tickets of this requester: by the linked employee, or by this chat when unlinked."""
    by_chat = (Ticket.origin_channel == Channel.telegram.value) & (
        Ticket.requester_address == who.chat
    )
    if who.employee_id is None:
        return select(Ticket).where(by_chat, Ticket.merged_into_id.is_(None))
    mine = or_(Ticket.requester_id == who.employee_id, by_chat)
    return select(Ticket).where(mine, Ticket.merged_into_id.is_(None))


def _view(ticket: Ticket, session: Session) -> TicketView:
    service = session.scalar(select(Service).where(Service.code == ticket.service_code))
    team = session.scalar(select(Team).where(Team.code == ticket.team_code))
    return TicketView(
        number=ticket.number or "",
        subject=ticket.subject,
        status=ticket.status,
        due=ticket.resolution_due_at,
        service={"ru": service.name_ru, "en": service.name_en} if service else None,
        team={"ru": team.name_ru, "en": team.name_en} if team else {"ru": "", "en": ""},
    )
