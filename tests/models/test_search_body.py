"""PostgreSQL: a new request's ticket carries its search text from its INSERT (migration 0015),
and the text searched stays what the message trigger of migration 0002 made of it."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from models.db import Ticket, session_scope
from router import jobs
from router.intake import Intake
from router.lifecycle.records import add_message
from router.runtime import Runtime
from tests.support.messages import form

COUNT_UPDATES = [
    "CREATE TABLE test_ticket_updates (ticket_id bigint)",
    """CREATE FUNCTION test_count_ticket_update() RETURNS trigger AS $$
    BEGIN INSERT INTO test_ticket_updates VALUES (NEW.id); RETURN NULL; END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER test_count AFTER UPDATE ON tickets FOR EACH ROW "
    "EXECUTE FUNCTION test_count_ticket_update()",
]


@pytest.fixture
def pg(runtime: Runtime) -> Runtime:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the search columns and their triggers are PostgreSQL's")
    with runtime.engine.begin() as conn:
        for statement in COUNT_UPDATES:
            conn.exec_driver_sql(statement)
    return runtime


def _processed(runtime: Runtime, external_id: str, raw: bytes | None = None, **kw: object) -> int:
    message_id = Intake(runtime).accept(form(external_id, **kw), raw=raw).message_id
    jobs.process_message(message_id)
    with session_scope(runtime.sessions) as session:
        ticket = session.query(Ticket).filter(Ticket.source_message_id == message_id).one()
        return ticket.id


def _search(runtime: Runtime, ticket_id: int) -> tuple[str, int]:
    """The ticket's search text and how many UPDATEs its row has had."""
    with runtime.engine.connect() as conn:
        body = conn.execute(text("SELECT search_body FROM tickets WHERE id = :i"), {"i": ticket_id})
        updates = conn.execute(
            text("SELECT count(*) FROM test_ticket_updates WHERE ticket_id = :i"), {"i": ticket_id}
        )
        return body.scalar_one(), updates.scalar_one()


def test_a_new_requests_ticket_is_written_once_with_its_search_text(pg: Runtime) -> None:
    ticket_id = _processed(pg, "once", text="Не работает VPN из ДОМА, ошибка 809")
    # Before migration 0015 the message trigger UPDATEd the ticket right after its INSERT.
    assert _search(pg, ticket_id) == (" не работает vpn из дома, ошибка 809", 0)
    with session_scope(pg.sessions) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        add_message(ticket, session=session, direction="outbound", body="Перезагрузите РОУТЕР")
    # Every later message is appended as before.
    assert _search(pg, ticket_id) == (
        " не работает vpn из дома, ошибка 809 перезагрузите роутер",
        1,
    )


def test_a_message_parsed_again_from_its_raw_form_is_appended_as_before(pg: Runtime) -> None:
    """With a raw form the ticket's first message may differ from the stored payload (e-mail is
    parsed again): the INSERT leaves the search text empty and the message trigger fills it."""
    ticket_id = _processed(pg, "raw", raw=b"form-data", text="Справка 2-НДФЛ")
    assert _search(pg, ticket_id) == (" справка 2-ндфл", 1)


def test_search_finds_the_new_ticket_by_its_text(pg: Runtime) -> None:
    ticket_id = _processed(pg, "found", text="Сломался Принтер на третьем этаже")
    with pg.engine.connect() as conn:
        found = conn.execute(
            text("SELECT id FROM tickets WHERE (search_head || ' ' || search_body) LIKE :q"),
            {"q": "%принтер на третьем%"},
        ).scalars()
        assert list(found) == [ticket_id]
