"""PostgreSQL: the queue's first page reads the open-ticket index, the text search the trigram one."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.app import create_app
from api.queue import _search_postgres
from router.runtime import Runtime
from tests.support.workflow import Staff, make_staff, make_ticket


def _queue_statements(runtime: Runtime, client: TestClient, headers: dict, params: dict) -> list:  # type: ignore[type-arg]
    seen: list[tuple[str, Any]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many):  # type: ignore[no-untyped-def]
        if "FROM tickets" in statement and "ORDER BY" in statement:
            seen.append((statement, parameters))

    event.listen(runtime.engine, "before_cursor_execute", record)
    try:
        assert client.get("/api/v1/queue", params=params, headers=headers).status_code == 200
    finally:
        event.remove(runtime.engine, "before_cursor_execute", record)
    return seen


def _plan(runtime: Runtime, statement: str, parameters: Any) -> str:
    with runtime.engine.connect() as conn:
        # Few rows here: forbid the sequential scan so the test asks "can the index serve it".
        conn.exec_driver_sql("SET enable_seqscan = off")
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        return "\n".join(r[0] for r in rows)


def test_first_page_reads_the_open_ticket_index(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    staff: Staff = make_staff(runtime)
    with runtime.sessions() as session:
        for _ in range(3):
            make_ticket(session, text="Прошу выдать копию трудовой книжки")
        session.commit()
    client = TestClient(create_app(runtime))
    for params in ({"team": "hr"}, {"team": "hr", "status": "new"}):
        statements = _queue_statements(runtime, client, staff.people["hr"].headers, params)
        assert statements, "the queue ran no query on tickets"
        plan = _plan(runtime, *statements[0])
        assert "ix_ticket_open_team_due" in plan, plan


def test_text_search_expression_is_the_trigram_index(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    condition = _search_postgres("трудовой").compile(
        dialect=runtime.engine.dialect, compile_kwargs={"literal_binds": True}
    )
    plan = _plan(runtime, f"SELECT id FROM tickets WHERE {condition}", {})
    assert "ix_ticket_search_trgm" in plan, plan


def test_search_terms_with_quotes_and_wildcards_are_text(runtime: Runtime) -> None:
    """The PostgreSQL pattern is rendered as a literal: quotes, backslashes, % and _ stay text."""
    staff: Staff = make_staff(runtime)
    odd = "O'Brien \\ 100%_done; -- x"
    with runtime.sessions() as session:
        wanted = make_ticket(session, text=f"Письмо от {odd}").number
        make_ticket(session, text="O'Brien 100 done")
        session.commit()
    client = TestClient(create_app(runtime))
    headers = staff.people["hr"].headers
    for term in (odd, "o'brien \\ 100%_", "100%_DONE"):
        resp = client.get("/api/v1/queue", params={"team": "hr", "q": term}, headers=headers)
        assert resp.status_code == 200, resp.text
        assert [t["number"] for t in resp.json()["items"]] == [wanted], term
