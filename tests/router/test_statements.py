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
# Round 5: its two SLA clocks written with its events, one INSERT for both (11).
NEW_TICKET_STATEMENTS = 11


@contextmanager
def counted(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

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
    with counted(runtime) as seen:
        jobs.process_message(second)
    assert len(seen) <= NEW_TICKET_STATEMENTS, "\n".join(s.split("\n")[0] for s in seen)


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
