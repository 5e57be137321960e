"""A new ticket's writes (issue #20): its INSERT in Core, its rows in one round trip on PostgreSQL.

`add_ticket` writes the ticket with one Core INSERT and leaves the object as the unit of work
would have: persistent, every column loaded, its version counting on from 1. `rows_in_bulk`
sends its INSERTs through `pipelined` (psycopg's pipeline mode), whose errors must still
surface as SQLAlchemy's and roll the transaction back whole.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.db import Employee, InboundMessage, NotificationRow, Ticket, TicketEvent
from models.types import utcnow
from router.lifecycle.records import (
    add_ticket,
    held_for_write_now,
    pipelined,
    record_event,
    rows_in_bulk,
    write_now,
)
from router.runtime import Runtime


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    with runtime.sessions() as s:
        yield s


def _ticket(**extra: Any) -> Ticket:
    return Ticket(
        subject="Справка с места работы",
        service_code="hr_certificate",
        team_code="hr",
        origin_channel="webform",
        requester_address="a.petrova@corp.example.com",
        **extra,
    )


def _statements(session: Session) -> list[str]:
    seen: list[str] = []
    event.listen(session.get_bind(), "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_a_new_ticket_is_persistent_with_its_defaults_as_the_unit_of_work_leaves_it(
    session: Session,
) -> None:
    ticket = add_ticket(_ticket(), session=session)
    state = inspect(ticket)
    assert state.persistent and not state.modified and not state.expired_attributes
    assert ticket.number and ticket.number.endswith(f"{ticket.id:06d}")
    assert (ticket.status, ticket.priority, ticket.routing, ticket.version) == (
        "new",
        "normal",
        "triage",
        1,
    )
    assert (ticket.candidates, ticket.notes, ticket.process_fields) == ([], [], {})
    assert ticket.created_at is not None and ticket.updated_at is not None
    seen = _statements(session)
    assert session.get(Ticket, ticket.id) is ticket and seen == []  # from the identity map
    session.commit()

    ticket.status = "in_progress"  # a later change is the unit of work's versioned UPDATE
    session.commit()
    assert [s for s in seen if s.startswith("UPDATE tickets")], seen
    with Session(session.get_bind()) as other:
        row = other.get(Ticket, ticket.id)
        assert row is not None
        assert (row.status, row.version, row.number) == ("in_progress", 2, ticket.number)
        assert (row.candidates, row.process_fields, row.language) == ([], {}, "ru")
        created = other.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == row.id))
        assert list(created) == ["created"]


def test_a_ticket_already_added_or_tied_by_a_relationship_is_written_once_by_the_flush(
    session: Session,
) -> None:
    added = _ticket()
    session.add(added)
    add_ticket(added, session=session)
    person = Employee(name="Анна Петрова", email="a.petrova@corp.example.com")
    tied = _ticket(requester=person)  # pending: its id exists only once the flush writes it
    add_ticket(tied, session=session)
    session.commit()
    assert tied.requester_id == person.id and person.id is not None
    numbers = session.scalars(select(Ticket.number).order_by(Ticket.id)).all()
    assert numbers == [added.number, tied.number]


def test_a_failed_statement_in_the_pipeline_is_sqlalchemys_error_and_nothing_stays(
    session: Session,
) -> None:
    ticket = add_ticket(_ticket(), session=session)
    session.commit()
    ghost = Ticket(id=ticket.id + 1000)  # no such ticket: its event breaks the foreign key
    with pytest.raises(IntegrityError), rows_in_bulk(session):
        record_event(ticket, "comment", session=session)
        record_event(ghost, "comment", session=session)
    session.rollback()
    kinds = session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id))
    assert list(kinds) == ["created"]  # the good event went with the bad one
    with rows_in_bulk(session):  # the connection is fine for the next transaction
        record_event(ticket, "comment", session=session)
    session.commit()
    kinds = session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id))
    assert sorted(kinds) == ["comment", "created"]


def test_pipelined_sends_its_statements_in_one_round_trip_on_postgresql(
    session: Session,
) -> None:
    states: list[int] = []

    def seen(conn: Any, *args: Any) -> None:
        pgconn = getattr(conn.connection.dbapi_connection, "pgconn", None)
        states.append(getattr(pgconn, "pipeline_status", 0))

    ticket = add_ticket(_ticket(), session=session)
    session.commit()
    event.listen(session.get_bind(), "before_cursor_execute", seen)
    with rows_in_bulk(session):
        record_event(ticket, "comment", session=session)
        record_event(ticket, "asked", session=session)
    with pipelined(session.connection()):
        pass  # nothing inside: nothing sent
    session.commit()
    on = [bool(s) for s in states]
    assert on == ([True] if session.get_bind().dialect.name == "postgresql" else [False])


def test_write_now_leaves_objects_clean_and_what_it_cannot_write_to_the_flush(
    session: Session,
) -> None:
    ticket = add_ticket(_ticket(), session=session)
    session.commit()
    ticket_id = ticket.id
    message = InboundMessage(channel="webform", external_id="w-1", payload={"text": "?"})
    session.add(message)
    session.commit()
    message.status, message.attempts, message.ticket_id = "processed", 1, ticket_id
    numbered = NotificationRow(
        id=9001, ticket_id=ticket_id, kind="created", channel="webform", recipient="a@b.c", text="1"
    )
    unnumbered = NotificationRow(
        ticket_id=ticket_id, kind="status", channel="webform", recipient="a@b.c", text="2"
    )
    session.add_all([numbered, unnumbered])
    seen = _statements(session)
    write_now(session, changed=[message], new=[numbered, unnumbered])
    assert inspect(message).persistent and not inspect(message).modified
    assert inspect(numbered).persistent and numbered.status == "pending"  # its defaults
    assert numbered.attempts == 0 and numbered.extra == {} and numbered.created_at is not None
    dialect = session.get_bind().dialect.name
    assert inspect(unnumbered).pending == (dialect == "postgresql")  # read back: not in a pipeline
    assert seen[0].startswith("UPDATE inbound_messages") and "version" not in seen[0]
    assert seen[1].startswith("INSERT INTO notifications")
    seen.clear()
    session.commit()
    assert not [s for s in seen if "inbound_messages" in s]  # nothing left for the flush
    with Session(session.get_bind()) as other:
        row = other.get(InboundMessage, message.id)
        assert row is not None and (row.status, row.attempts, row.ticket_id) == (
            "processed",
            1,
            ticket_id,
        )
        ids = other.scalars(select(NotificationRow.id).order_by(NotificationRow.id)).all()
        assert len(ids) == 2 and 9001 in ids


def test_rows_held_for_write_now_go_with_it_or_at_the_end_and_never_after_an_error(
    session: Session,
) -> None:
    ticket = add_ticket(_ticket(), session=session)
    session.commit()

    def kinds() -> list[str]:
        query = select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)
        return sorted(session.scalars(query.order_by(TicketEvent.id)))

    with held_for_write_now(session):
        with rows_in_bulk(session):
            record_event(ticket, "comment", session=session)
        assert kinds() == ["created"]  # kept, not written at the bulk's end
        ended = utcnow()
        time.sleep(0.01)
        write_now(session, changed=[], new=[])
        assert kinds() == ["comment", "created"]
        at = session.scalar(select(TicketEvent.created_at).where(TicketEvent.kind == "comment"))
        assert at is not None and at <= ended  # stamped at the bulk's end, not when written
    with held_for_write_now(session), rows_in_bulk(session):
        record_event(ticket, "asked", session=session)
    assert kinds() == ["asked", "comment", "created"]  # no write_now: written at the end
    with pytest.raises(RuntimeError), held_for_write_now(session):
        with rows_in_bulk(session):
            record_event(ticket, "linked", session=session)
        raise RuntimeError("the message's work failed")
    session.commit()
    assert kinds() == ["asked", "comment", "created"]
