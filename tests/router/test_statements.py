"""SQL statements per message, counted so they cannot creep back (issue #20)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from router import jobs
from router.intake import Intake
from router.runtime import Runtime
from tests.support.messages import form

# One new web-form request with its service chosen: load it, route it, store the ticket, its
# message, event and outbox row, and deliver the "created" notification in the same job.
# 30 before the service look-up was memoised per session (26); the SLA engine adds the
# calendar look-ups, two clock rows and two sla_started events (33).
NEW_TICKET_STATEMENTS = 33


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
