"""SQL statements per message, counted so they cannot creep back (issue #20)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import event

from router import jobs
from router.intake import Intake
from router.runtime import Runtime
from tests.support.messages import form

# One new web-form request with its service chosen: load it, route it, store the ticket, its
# message, event and outbox row, and deliver the "created" notification in the same job.
# 30 before the service look-up was memoised per session (26); the SLA engine adds the
# calendar look-ups, two clock rows and two sla_started events (33). Issue #20 (26): the
# status-page send recorded in the ticket's own transaction (no claim, re-read, second commit),
# one UPDATE of the message row, both priority factors in one read, no threading query for
# the "created" message (nothing was sent on a ticket that did not exist).
# Issue #20, round 2: teams, calendars, the default calendar, priority factors and "any
# webhook subscription?" cached per process (router/catalog_cache.py); the next send in line
# read in the ticket's transaction instead of a second one (19);
# the chosen service read once per session (18).
# Issue #20, round 4: a ticket opened in this transaction has no SLA clocks to read and no
# earlier or later send to look up for its first notification (15); its events and its
# message written at the end, one INSERT per table (router/lifecycle/records.rows_in_bulk) (13);
# an e-mail-like sender looked up by its linked address or its e-mail in one statement (12).
# Round 5: its two SLA clocks written with its events, one INSERT for both (11); its due
# dates written in its INSERT (PostgreSQL: its number too, the id taken from the sequence
# first; SQLite: the number in one plain UPDATE, not the ORM's versioned one at commit); the
# "created" row written once with its outcome (notify.give_ids: one SELECT for its id), so no
# UPDATE of it after (11).
# Round 6: the ticket's INSERT in Core (router/lifecycle/records._insert, not the unit of work);
# PostgreSQL: the "created" row's id read with the ticket's (10), and the events, message and
# clocks INSERTs sent in one round trip (psycopg's pipeline mode) with the message row's UPDATE and
# the "created" row's INSERT in Core at the end of the job's work (records.write_now), with
# them: 6 round trips (the same 10 statements: the 5 writes after the ticket in one).
NEW_TICKET_STATEMENTS = {"sqlite": 11, "postgresql": 10}
NEW_TICKET_ROUND_TRIPS = {"sqlite": 11, "postgresql": 6}
# An onboarding request: its ticket and its process's five sub-tickets. Session 13: 24 on
# SQLite, 23 in 19 round trips on PostgreSQL, before the template was kept by the catalogue
# cache, the first stage's due dates planned before its INSERT (no UPDATE of it, no clocks read
# back) and, on PostgreSQL, the five ids taken in one round trip and the five INSERTs sent in
# one more (router/lifecycle/records.add_tickets), and its children, known from the fan-out,
# not read back for the "created" message's plan of them.
FAN_OUT_STATEMENTS = {"sqlite": 20, "postgresql": 15}
FAN_OUT_ROUND_TRIPS = {"sqlite": 20, "postgresql": 7}


# SQLite: a ticket's number, known once its INSERT has given it its id.
_NUMBER = "UPDATE tickets SET number=?, updated_at=?"


@contextmanager
def counted(runtime: Runtime, *, piped: list[bool] | None = None) -> Iterator[list[str]]:
    """The statements executed inside; `piped` gets, for each, whether it went in a pipeline."""
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)
        if piped is not None:
            pgconn = getattr(conn.connection.dbapi_connection, "pgconn", None)
            piped.append(bool(getattr(pgconn, "pipeline_status", 0)))

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)


def test_a_new_ticket_costs_a_bounded_number_of_statements(runtime: Runtime) -> None:
    intake = Intake(runtime)
    first, second = (
        intake.accept(form(f"stmt-{i}", sender_address=f"u{i}@corp.example.com")).message_id
        for i in range(2)
    )
    jobs.process_message(first)  # the first pays the process's one-off look-ups
    piped: list[bool] = []
    with counted(runtime, piped=piped) as seen:
        jobs.process_message(second)
    bound = NEW_TICKET_STATEMENTS[runtime.engine.dialect.name]
    assert len(seen) <= bound, "\n".join(s.split("\n")[0] for s in seen)
    # A pipeline's statements share one round trip (they are consecutive: one pipeline here).
    trips = piped.count(False) + (1 if any(piped) else 0)
    assert trips <= NEW_TICKET_ROUND_TRIPS[runtime.engine.dialect.name], list(
        zip(piped, [s[:50] for s in seen], strict=True)
    )
    updates = [s.split(" WHERE")[0] for s in seen if s.startswith("UPDATE tickets")]
    assert updates == ([] if runtime.engine.dialect.name == "postgresql" else [_NUMBER])


def test_a_fan_out_costs_a_bounded_number_of_statements(runtime: Runtime) -> None:
    from sqlalchemy import select

    from models.db import NotificationRow, SlaClock, Ticket, TicketEvent, session_scope
    from router.lifecycle.records import format_number

    intake = Intake(runtime)
    first, second = (
        intake.accept(
            form(f"fan-{i}", sender_address=f"f{i}@corp.example.com", service_hint="hr_onboarding")
        ).message_id
        for i in range(2)
    )
    jobs.process_message(first)  # the first pays the process's one-off look-ups
    piped: list[bool] = []
    with counted(runtime, piped=piped) as seen:
        jobs.process_message(second)
    name = runtime.engine.dialect.name
    assert len(seen) <= FAN_OUT_STATEMENTS[name], "\n".join(s.split("\n")[0] for s in seen)
    # A pipeline's statements share one round trip: one for each run of them.
    trips = piped.count(False) + sum(
        1 for i, p in enumerate(piped) if p and (i == 0 or not piped[i - 1])
    )
    assert trips <= FAN_OUT_ROUND_TRIPS[name], list(zip(piped, [s[:50] for s in seen], strict=True))
    assert not [s for s in seen if "process_templates" in s]
    with session_scope(runtime.sessions) as session:
        newest = select(Ticket).where(Ticket.parent_id.is_(None)).order_by(Ticket.id.desc())
        parent = session.scalars(newest).first()
        assert parent is not None and parent.service_code == "hr_onboarding"
        kids = session.scalars(
            select(Ticket).where(Ticket.parent_id == parent.id).order_by(Ticket.id)
        ).all()
        assert [k.stage for k in kids] == [0, 1, 1, 1, 1]
        assert [k.number for k in kids] == [format_number(k.id) for k in kids]
        assert [int(k.process_step.split(":")[0]) for k in kids] == [0, 1, 2, 3, 4]
        assert kids[0].response_due_at and kids[0].resolution_due_at  # written in its INSERT
        assert all(k.response_due_at is None for k in kids[1:])  # planned: no clock yet
        clocks = session.scalars(select(SlaClock.ticket_id).order_by(SlaClock.id)).all()
        assert clocks.count(kids[0].id) == 2 and not set(clocks) & {k.id for k in kids[1:]}
        created = session.scalars(
            select(TicketEvent.ticket_id).where(TicketEvent.kind == "created")
        ).all()
        assert all(created.count(k.id) == 1 for k in [parent, *kids])
        # The "created" message lists them (from the fan-out's own list), later stages marked.
        note = session.scalars(
            select(NotificationRow).where(NotificationRow.ticket_id == parent.id)
        ).one()
        plan = [f"{kids[0].number} ({kids[0].team_code})"] + [
            f"{k.number} ({k.team_code}) - после предыдущего этапа" for k in kids[1:]
        ]
        assert f"По заявке созданы подзадачи: {', '.join(plan)}." in note.text


def test_the_status_page_send_is_recorded_with_its_ticket(runtime: Runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Nothing leaves the database for a web-form send: it commits with the ticket, so a worker
    that dies right after that commit leaves no pending row behind (issue #20: one commit)."""
    from sqlalchemy import select

    from models.db import NotificationRow, session_scope

    def crash(*args: Any, **kw: Any) -> None:
        raise SystemExit("worker killed after the commit")

    monkeypatch.setattr(jobs, "deliver_first", crash)
    monkeypatch.setattr(jobs, "hand_off", crash)
    monkeypatch.setattr(jobs, "hand_on", crash)
    mid = Intake(runtime).accept(form("local-1")).message_id
    with suppress(SystemExit):
        jobs.process_message(mid)
    with session_scope(runtime.sessions) as session:
        rows = session.scalars(select(NotificationRow).order_by(NotificationRow.id)).all()
    assert rows[0].channel == "webform" and rows[0].kind == "created"
    assert rows[0].status == "sent" and rows[0].sent_at is not None and rows[0].attempts == 1


def test_the_status_page_send_is_written_once_with_its_outcome(runtime: Runtime) -> None:
    """The row is numbered before its INSERT (router/notify.give_ids), so the send is recorded
    on it before it is written: one INSERT that says "sent", no UPDATE after it (issue #20)."""
    from sqlalchemy import select

    from models.db import NotificationRow, session_scope

    intake = Intake(runtime)
    first, second = (intake.accept(form(f"once-{i}")).message_id for i in range(2))
    jobs.process_message(first)
    with counted(runtime) as seen:
        jobs.process_message(second)
    writes = [s.split("(")[0].strip() for s in seen if "notifications" in s.split("(")[0]]
    assert writes == ["INSERT INTO notifications"], writes
    with session_scope(runtime.sessions) as session:
        rows = session.scalars(select(NotificationRow).order_by(NotificationRow.id)).all()
    assert [(r.status, r.attempts, r.external_id) for r in rows] == [
        ("sent", 1, f"webform:{r.id}") for r in rows
    ]
    assert rows[1].id > rows[0].id and rows[1].created_at >= rows[0].created_at


def _ticket_id(runtime: Runtime, external_id: str) -> int:
    from sqlalchemy import select

    from models.db import Ticket, session_scope

    jobs.process_message(Intake(runtime).accept(form(external_id)).message_id)
    with session_scope(runtime.sessions) as session:
        found = session.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))
    assert found is not None
    return found


def test_outbox_rows_numbered_ahead_never_collide_with_others(runtime: Runtime) -> None:
    """give_ids hands out the ids the database would: rows written later, by this transaction
    or the next, get the following ones (SQLite: max + 1 under the write lock; PostgreSQL: the
    sequence)."""
    from sqlalchemy import select

    from models.db import NotificationRow, Ticket, session_scope
    from router import notify

    ticket_id = _ticket_id(runtime, "ahead-1")
    with session_scope(runtime.sessions) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.subject = "written first"
        session.flush()  # the transaction has written: ids may be handed out
        ahead = [notify.outbox(ticket, "info", f"t{i}", session=session) for i in range(2)]
        rows = [r for r in ahead if r]
        assert len(rows) == 2 and notify.give_ids(rows, session=session)
        later = notify.outbox(ticket, "info", "after", session=session)
        session.flush()
        assert later is not None and later.id > max(r.id for r in rows)
    with session_scope(runtime.sessions) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        behind = notify.outbox(ticket, "info", "next", session=session)
        session.flush()
        assert behind is not None and behind.id > later.id
        ids = session.scalars(select(NotificationRow.id)).all()
    assert len(ids) == 5 and len(set(ids)) == 5  # the ticket's own "created" and these four


def test_no_ids_handed_out_before_the_transaction_writes(runtime: Runtime) -> None:
    """On SQLite `max(id) + 1` is only safe once this transaction holds the write lock; and a
    pending row without an id would take one of them at the flush."""
    from models.db import Ticket, session_scope
    from router import notify

    ticket_id = _ticket_id(runtime, "ahead-2")
    sqlite = runtime.engine.dialect.name == "sqlite"
    with session_scope(runtime.sessions) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        row = notify.outbox(ticket, "info", "t", session=session)
        assert row is not None
        assert notify.give_ids([row], session=session) is not sqlite
        assert (row.id is None) is sqlite
        other = notify.outbox(ticket, "info", "u", session=session)
        pending = notify.outbox(ticket, "info", "v", session=session)
        assert other is not None and pending is not None and pending.id is None
        assert notify.give_ids([other], session=session) is False
        session.rollback()


def test_numbers_written_in_the_insert_follow_the_ids(runtime: Runtime) -> None:
    """The number is in the ticket's INSERT (PostgreSQL: the id taken from its sequence first;
    SQLite: max(id) + 1 computed in the statement): it is the one its id gives, on every row."""
    from sqlalchemy import select

    from models.db import Ticket, session_scope
    from router.lifecycle.records import format_number

    intake = Intake(runtime)
    for i in range(3):
        jobs.process_message(intake.accept(form(f"num-{i}")).message_id)
    with session_scope(runtime.sessions) as session:
        rows = session.execute(select(Ticket.id, Ticket.number).order_by(Ticket.id)).all()
        assert len(rows) == 3 and all(number == format_number(id_) for id_, number in rows)
        loaded = session.scalars(select(Ticket)).all()
        assert all(t.response_due_at and t.resolution_due_at for t in loaded)
