"""The bot's own state (polling offset, messages already stored) and what it is told by router/."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.db import ChannelState, InboundMessage, session_scope
from models.types import Channel, Requester, SentNote, TicketView


class Views(Protocol):
    """What the bot may know about its requester; router/requesters.RequesterViews answers."""

    def requester(self, chat: str) -> Requester: ...

    def pending_code(self, chat: str) -> bool: ...

    def open_tickets(self, who: Requester) -> list[TicketView]: ...

    def ticket(self, who: Requester, number: str) -> TicketView | None: ...

    def sent_note(self, external_id: str) -> SentNote | None: ...


class Store:
    """Every call is one short session (run it off the loop)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def is_known(self, external_id: str) -> bool:
        """The message is in the intake log already (skip downloading its files again)."""
        with session_scope(self.sessions) as session:
            found = session.scalar(
                select(InboundMessage.id).where(
                    InboundMessage.channel == Channel.telegram.value,
                    InboundMessage.external_id == external_id,
                )
            )
            return found is not None

    def load_offset(self, key: str) -> int | None:
        with session_scope(self.sessions) as session:
            state = session.get(ChannelState, key)
            value = state.value.get("offset") if state else None
            return int(value) if value is not None else None

    def save_offset(self, key: str, offset: int) -> None:
        with session_scope(self.sessions) as session:
            state = session.get(ChannelState, key)
            if state is None:
                session.add(ChannelState(key=key, value={"offset": offset}))
            else:
                state.value = {"offset": offset}
