"""The per-process catalogue cache (issue #20): seen changes at once, in this process and others."""

from __future__ import annotations

from sqlalchemy import event, select, update

from models.db import Service, SlaCalendar, Team, session_scope
from router import catalog_cache
from router.lifecycle.processes import service_row
from router.lifecycle.sla_plan import team_info
from router.runtime import Runtime


def _team_name(runtime: Runtime, code: str) -> str | None:
    with session_scope(runtime.sessions) as session:
        found = team_info(code, session=session)
        return found.name_en if found else None


def _any_team(runtime: Runtime) -> str:
    with session_scope(runtime.sessions) as session:
        code = session.scalar(select(Team.code).limit(1))
    assert code
    return code


def test_an_edited_row_is_seen_at_once_in_this_process(runtime: Runtime) -> None:
    code = _any_team(runtime)
    assert _team_name(runtime, code) not in (None, "Renamed")
    with session_scope(runtime.sessions) as session:  # an ORM edit, as the API makes it
        team = session.scalar(select(Team).where(Team.code == code))
        assert team is not None
        team.name_en = "Renamed"
    assert _team_name(runtime, code) == "Renamed"
    with session_scope(runtime.sessions) as session:  # a bulk statement
        session.execute(update(Team).where(Team.code == code).values(name_en="Again"))
    assert _team_name(runtime, code) == "Again"


def test_a_write_in_another_process_is_seen_through_the_version_key(runtime: Runtime) -> None:
    code = _any_team(runtime)
    _team_name(runtime, code)
    before = runtime.redis.get(catalog_cache.VERSION_KEY)
    with runtime.engine.begin() as conn:  # another process's write: no listener here sees it
        conn.execute(update(Team.__table__).where(Team.code == code).values(name_en="Elsewhere"))
    catalog_cache.bump(runtime.redis)  # what that process's commit does
    assert runtime.redis.get(catalog_cache.VERSION_KEY) != before
    catalog_cache._store["teams"] = {}  # as if this process still held the old rows
    catalog_cache.sync(runtime.redis)
    assert _team_name(runtime, code) == "Elsewhere"


def test_a_version_seen_before_a_redis_flush_is_not_mistaken_for_the_next(runtime: Runtime) -> None:
    """Redis lost its data (restart, flush) after this process saw a version: the next bump
    must still differ from what was seen, or the stale rows would stay."""
    catalog_cache.bump(runtime.redis)
    catalog_cache.sync(runtime.redis)
    runtime.redis.delete(catalog_cache.VERSION_KEY)
    catalog_cache._store["teams"] = {}
    catalog_cache.bump(runtime.redis)  # another process, after the flush
    catalog_cache._store["teams"] = {}  # this one still holds the old rows
    catalog_cache.sync(runtime.redis)
    assert "teams" not in catalog_cache._store


def test_a_commit_that_touches_the_catalogue_bumps_the_version(runtime: Runtime) -> None:
    before = runtime.redis.get(catalog_cache.VERSION_KEY)
    with session_scope(runtime.sessions) as session:
        session.execute(update(SlaCalendar).values(timezone="UTC"))
    assert runtime.redis.get(catalog_cache.VERSION_KEY) != before


def _service_priority(runtime: Runtime, code: str) -> str | None:
    with session_scope(runtime.sessions) as session:
        found = service_row(code, session)
        return found.priority if found else None


def _any_service(runtime: Runtime) -> str:
    with session_scope(runtime.sessions) as session:
        code = session.scalar(select(Service.code).where(Service.active).limit(1))
    assert code
    return code


def test_a_service_is_read_once_per_process_not_once_per_message(runtime: Runtime) -> None:
    """Every routed message reads its service (and a fan-out's sub-services) in a session of
    its own: the row comes from the cache, as a persistent object of that session."""
    code = _any_service(runtime)
    selects: list[str] = []

    def seen(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        if "FROM services" in statement:
            selects.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", seen)
    try:
        for _ in range(3):
            with session_scope(runtime.sessions) as session:
                found = service_row(code, session)
                assert found is not None and found.code == code and found in session
                assert service_row(code, session) is found  # once per session, as before
                assert not session.dirty and not session.new
    finally:
        event.remove(runtime.engine, "before_cursor_execute", seen)
    assert len(selects) == 1, selects
    with session_scope(runtime.sessions) as session:
        assert service_row("no-such-service", session) is None


def test_an_edited_service_is_seen_at_once_and_is_the_sessions_own(runtime: Runtime) -> None:
    code = _any_service(runtime)
    assert _service_priority(runtime, code) != "critical"
    with session_scope(runtime.sessions) as session:  # the API's edit: an ORM change
        service = service_row(code, session)
        assert service is not None
        service.priority = "critical"
        # the session's own changed object, not a copy of the cached row
        assert service_row(code, session) is service
    assert _service_priority(runtime, code) == "critical"
    with session_scope(runtime.sessions) as session:  # a cached object takes edits as usual
        service = service_row(code, session)
        assert service is not None
        service.priority = "low"
    with session_scope(runtime.sessions) as session:
        assert session.scalar(select(Service.priority).where(Service.code == code)) == "low"
    assert _service_priority(runtime, code) == "low"
    with session_scope(runtime.sessions) as session:  # loaded by a query first: that one wins
        loaded = session.scalar(select(Service).where(Service.code == code))
        assert service_row(code, session) is loaded


def test_a_service_changed_by_another_process_is_seen_after_its_bump(runtime: Runtime) -> None:
    code = _any_service(runtime)
    _service_priority(runtime, code)
    with runtime.engine.begin() as conn:  # another process's write: no listener here sees it
        conn.execute(update(Service).where(Service.code == code).values(priority="high"))
    catalog_cache.bump(runtime.redis)  # what that process's commit does
    catalog_cache.sync(runtime.redis)
    assert _service_priority(runtime, code) == "high"
