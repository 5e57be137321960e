"""models/rows.py: rows read and written in Core, objects left as the unit of work leaves them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from models.db import InboundMessage, Ticket
from models.rows import load_row, update_row
from router.runtime import Runtime


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    with runtime.sessions() as s:
        yield s


def _stored(session: Session) -> int:
    row = InboundMessage(channel="webform", external_id="r-1", payload={"text": "Привет"})
    session.add(row)
    session.commit()
    session.expunge_all()
    return row.id


def test_load_row_is_get_in_one_select_and_leaves_a_clean_persistent_object(
    session: Session,
) -> None:
    message_id = _stored(session)
    seen: list[str] = []
    event.listen(session.get_bind(), "before_cursor_execute", lambda *a: seen.append(a[2]))
    row = load_row(InboundMessage, message_id, session=session, for_update=True)
    assert len(seen) == 1 and seen[0].startswith("SELECT")
    if session.get_bind().dialect.name == "postgresql":
        assert "FOR UPDATE" in seen[0]
    state = inspect(row)
    assert state.persistent and not state.modified and not state.expired_attributes
    assert (row.payload, row.status, row.attempts) == ({"text": "Привет"}, "queued", 0)
    assert session.get(InboundMessage, message_id) is row and len(seen) == 1
    assert load_row(InboundMessage, message_id + 99, session=session) is None

    row.status, row.attempts = "processed", 1  # changed: the flush's UPDATE, as after a get
    session.commit()
    assert [s for s in seen if s.startswith("UPDATE inbound_messages")]
    again = load_row(InboundMessage, message_id, session=session)  # held: refreshed by the ORM
    assert again is row and (row.status, row.attempts) == ("processed", 1)


def test_update_row_writes_only_what_changed_and_refuses_a_versioned_row(
    session: Session,
) -> None:
    message_id = _stored(session)
    row = load_row(InboundMessage, message_id, session=session)
    row.error = "x"
    seen: list[Any] = []
    event.listen(session.get_bind(), "before_cursor_execute", lambda *a: seen.append(a[2]))
    update_row(row, session=session)
    assert len(seen) == 1 and "error" in seen[0] and "payload" not in seen[0]
    assert not inspect(row).modified and session.get(InboundMessage, message_id) is row
    session.commit()
    assert len(seen) == 1  # nothing left for the flush
    with pytest.raises(TypeError, match="version"):
        update_row(Ticket(), session=session)
