"""Rows read and written in Core, their objects left as the unit of work would leave them.

Issue #20: on the intake's hot path the ORM's own machinery cost more than the SQL it sent.
Its INSERT of one new ticket was a fifth of the worker's time per message, its flush of the
message row and the first notification a sixth, and `Session.get` of the message row another
sixth. These helpers send one Core statement each and then attach the object to the session
as persistent and clean: every column loaded, no history, in the identity map. Later changes
to it are the unit of work's again, as usual (a versioned row's UPDATE still checks its
version there).

They are for rows no one else may change meanwhile: new in this transaction, or locked by
it. `update_row` reads no row count and checks no version, so a versioned class is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, bindparam, insert, inspect, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient, make_transient_to_detached


@contextmanager
def pipelined(connection: Connection) -> Iterator[None]:
    """PostgreSQL: the statements executed inside go out together and are answered together,
    one round trip (psycopg's pipeline mode) instead of one each (a round trip cost the worker
    ~0.5 ms of CPU). They may not read anything back: no SELECT, no RETURNING. An error
    surfaces at the end at the latest, as SQLAlchemy's own exception (IntegrityError and so
    on); the transaction is then to be rolled back, as after any failed statement. Not to be
    nested (psycopg syncs, a round trip, at every level). Elsewhere (SQLite: no round trips)
    it does nothing."""
    dbapi = connection.connection.dbapi_connection
    if connection.dialect.name != "postgresql" or dbapi is None:
        yield
        return
    import psycopg

    try:
        with dbapi.pipeline():  # type: ignore[attr-defined]
            yield
    except psycopg.Error as exc:
        raise DBAPIError.instance(
            None, None, exc, psycopg.Error, dialect=connection.dialect
        ) from exc


def insert_row(obj: Any, *, session: Session) -> None:
    """The object's INSERT as one Core statement, then the object persistent in `session`.

    Every column is given: unset ones get their column's (Python-side) default, as the INSERT
    would, so nothing is left to load back. Without its primary key it gets the one the
    database gives (SQLite; not inside `pipelined`, which reads nothing back)."""
    table = _table(type(obj))
    values = with_defaults(obj)
    if obj in session:
        session.expunge(obj)  # pending: made persistent below, as the flush would
    connection = session.connection()
    if getattr(obj, table.pk) is None:
        given = connection.execute(table.insert, values).inserted_primary_key
        setattr(obj, table.pk, given[0] if given else None)
    else:
        connection.execute(table.insert, values)
    _attach(obj, session)


def with_defaults(obj: Any) -> dict[str, Any]:
    """Every column's value for the object's INSERT, unset ones given their column's
    (Python-side) default now, on the object too, as the INSERT would; its primary key left
    out while it has none."""
    table = _table(type(obj))
    values: dict[str, Any] = {}
    for key, column in table.columns:
        value = obj.__dict__.get(key)
        if value is None and column.default is not None:
            default = column.default
            value = default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined]
        if value is not None or key != table.pk:
            setattr(obj, key, value)
            values[column.key] = value
    return values


def update_row(obj: Any, *, session: Session) -> None:
    """The changed columns' UPDATE of a persistent object as one Core statement, the object
    then clean as after a flush."""
    table = _table(type(obj))
    if table.versioned:
        raise TypeError(f"{type(obj).__name__}: its UPDATE checks its version (the flush's)")
    state = inspect(obj)
    keys = tuple(sorted(k for k in state.committed_state if k in table.column_keys))
    if keys:
        values = {k: obj.__dict__[k] for k in keys}
        values["_pk"] = getattr(obj, table.pk)
        session.connection().execute(table.update_of(keys), values)
    session.expunge(obj)
    make_transient(obj)
    _attach(obj, session)


def load_row(cls: type[Any], pk: Any, *, session: Session, for_update: bool = False) -> Any:
    """`session.get(cls, pk, with_for_update=for_update)` as one Core SELECT: the row's object,
    persistent in `session`, or None. One the session already holds is refreshed by the ORM."""
    if session.identity_map.get(session.identity_key(cls, pk)) is not None:
        return session.get(cls, pk, with_for_update=for_update or None)
    found = session.connection().execute(_table(cls).load(for_update), {"_pk": pk}).first()
    if found is None:
        return None
    return attach_loaded(cls, row_values(cls, found), session=session)


def row_values(cls: type[Any], found: Any) -> dict[str, Any]:
    """A Core row of all `cls`'s columns (in mapper order, as `columns_of` selects them) as
    its attributes' values."""
    return {key: value for (key, _), value in zip(_table(cls).columns, found, strict=True)}


def columns_of(cls: type[Any]) -> list[Any]:
    """`cls`'s mapped columns, in the order `row_values` reads them back."""
    return [column for _, column in _table(cls).columns]


def attach_loaded(cls: type[Any], values: dict[str, Any], *, session: Session) -> Any:
    """An object of `cls` with these column values (every column), persistent and clean in
    `session` as if it had just been loaded, with no SELECT: for a row read earlier and kept
    (router/catalog_cache.py). The caller gives it values no one else's object shares (a
    mutable value, a JSON list say, copied)."""
    obj = _table(cls).manager.new_instance()
    obj.__dict__.update(values)
    _attach(obj, session)
    return obj


def has_relations(obj: Any) -> bool:
    """A relationship of the object is set: its foreign keys are the unit of work's to sync."""
    return not _table(type(obj)).relations.isdisjoint(obj.__dict__)


def _attach(obj: Any, session: Session) -> None:
    make_transient_to_detached(obj)  # every attribute in its __dict__ committed, no history
    session.add(obj)


class _Table:
    """What the helpers need of a mapped class, built once."""

    def __init__(self, cls: type[Any]) -> None:
        mapper = inspect(cls)
        self.manager = mapper.class_manager
        self.columns = [(p.key, p.columns[0]) for p in mapper.column_attrs]
        self.column_keys = frozenset(k for k, _ in self.columns)
        self.relations = frozenset(r.key for r in mapper.relationships)
        (pk,) = mapper.primary_key
        self.pk = mapper.get_property_by_column(pk).key
        self.versioned = mapper.version_id_col is not None
        for _, column in self.columns:
            default = column.default
            if default is not None and not (default.is_callable or default.is_scalar):
                raise TypeError(f"{cls.__name__}.{column.key}: an SQL default, not known before")
        self.insert = insert(cls)
        base = select(*(c for _, c in self.columns)).where(pk == bindparam("_pk"))
        self._loads = {False: base, True: base.with_for_update()}
        self._pk_column = pk
        self._updates: dict[tuple[str, ...], Any] = {}
        self._cls = cls

    def load(self, for_update: bool) -> Any:
        return self._loads[for_update]

    def update_of(self, keys: tuple[str, ...]) -> Any:
        found = self._updates.get(keys)
        if found is None:
            cols = dict(self.columns)
            found = self._updates[keys] = (
                update(self._cls)
                .where(self._pk_column == bindparam("_pk"))
                .values({cols[k].key: bindparam(k) for k in keys})
            )
        return found


_TABLES: dict[type[Any], _Table] = {}


def _table(cls: type[Any]) -> _Table:
    found = _TABLES.get(cls)
    if found is None:
        found = _TABLES[cls] = _Table(cls)
    return found
