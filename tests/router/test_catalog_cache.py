"""The per-process catalogue cache (issue #20): seen changes at once, in this process and others."""

from __future__ import annotations

from sqlalchemy import select, update

from models.db import SlaCalendar, Team, session_scope
from router import catalog_cache
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
