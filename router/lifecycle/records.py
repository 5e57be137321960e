"""Ticket records: numbering, audit events and messages. The one place that writes them.

Every audit event goes through `record_event`, and its kind is one of `EVENT_KINDS`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import bindparam, insert, inspect, select, update
from sqlalchemy import text as sql
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from models.db import SlaClock, Ticket, TicketEvent, TicketMessage
from models.rows import has_relations, insert_row, pipelined, update_row
from models.types import TICKET_PREFIX, utcnow
from router.analytics_marks import mark_dirty
from router.webhooks import enqueue_webhooks

# The audit-event vocabulary: what can happen to a ticket, one word each.
EVENT_KINDS = frozenset(
    {
        "created",  # the ticket exists (to_value: its first status)
        "status",  # a lifecycle move (data["action"]: which one)
        "assigned",
        "reassigned",
        "clarified",  # the requester chose a service
        "comment",
        "asked",
        "merged",
        "merged_into",
        "linked",
        "feedback",
        "auto_reply",
        "requester_message",
        # The SLA clocks (router/lifecycle/sla_clocks.py): to_value is the clock.
        "sla_started",
        "sla_paused",
        "sla_resumed",
        "sla_warning",
        "sla_breached",
        "sla_met",
        "priority",  # raised one step on a breach (the service's raise_priority_on_breach)
        # Something went wrong for the operator to see (to_value: what, e.g. "classifier";
        # data["detail"]: the message), while the ticket itself went on (e.g. to triage).
        "error",
    }
)


# session.info key: events, messages and SLA clocks recorded inside `rows_in_bulk`, written at
# its end.
_BULK = "okno_bulk_rows"

BulkRow = TicketEvent | TicketMessage | SlaClock


@contextmanager
def rows_in_bulk(session: Session) -> Iterator[None]:
    """Events, messages and SLA clocks recorded inside are written at the end, one INSERT per
    table.

    For a new ticket's intake (several events, its message and its two clocks, none read back
    before the end): one executemany instead of an ORM INSERT per row (each with RETURNING for
    its id). The rows are not in the session: nothing inside may read them back, which a
    pending row under `no_autoflush` (the pipeline's) would not show either. Nested uses join
    the outermost."""
    if _BULK in session.info:
        yield
        return
    pending: list[BulkRow] = []
    session.info[_BULK] = pending
    try:
        yield
    finally:
        session.info.pop(_BULK, None)
    now = utcnow()  # stamped at the bulk's end, even if write_now writes them after the sends
    for row in pending:
        if not isinstance(row, SlaClock) and row.created_at is None:
            row.created_at = now
    held = session.info.get(_HELD)
    if held is not None:  # written by write_now, with the message's last writes
        held.extend(pending)
        return
    with pipelined(session.connection()):  # PostgreSQL: the INSERTs in one round trip
        _write(pending, session=session)


# session.info key: the rows `rows_in_bulk` would write at its end, kept inside
# `held_for_write_now` for `write_now`.
_HELD = "okno_held_rows"


@contextmanager
def held_for_write_now(session: Session) -> Iterator[None]:
    """Inside, `rows_in_bulk` keeps its rows for `write_now`, which writes them first, with the
    message's last writes (PostgreSQL: in the same round trip, one less per new ticket). Nothing inside may read
    them back in between, as inside `rows_in_bulk`. What `write_now` did not take is written
    at the end; an exception drops them with the transaction it rolls back."""
    held: list[BulkRow] = []
    session.info[_HELD] = held
    try:
        yield
    finally:
        session.info.pop(_HELD, None)
    if held:
        with pipelined(session.connection()):
            _write(held, session=session)


def _write(rows: list[BulkRow], *, session: Session) -> None:
    """The rows `rows_in_bulk` gathered (and stamped), one INSERT per table."""
    events = [
        {
            "ticket_id": e.ticket_id,
            "kind": e.kind,
            "from_value": e.from_value,
            "to_value": e.to_value,
            "actor": e.actor,
            "data": e.data,
            "created_at": e.created_at,
        }
        for e in rows
        if isinstance(e, TicketEvent)
    ]
    messages = [
        {
            "ticket_id": m.ticket_id,
            "direction": m.direction,
            "channel": m.channel,
            "author": m.author,
            "author_user_id": m.author_user_id,
            "body": m.body,
            "attachments": m.attachments,
            "inbound_message_id": m.inbound_message_id,
            "created_at": m.created_at,
        }
        for m in rows
        if isinstance(m, TicketMessage)
    ]
    clocks = [
        {
            "ticket_id": c.ticket_id,
            "clock": c.clock,
            "calendar": c.calendar,
            "target_seconds": c.target_seconds,
            "elapsed_seconds": c.elapsed_seconds,
            "running_since": c.running_since,
            "due_at": c.due_at,
            "warn_at": c.warn_at,
            "next_check_at": c.next_check_at,
            "cycle": c.cycle,
            "warned_cycle": c.warned_cycle,
            "breached_at": c.breached_at,
            "stopped_at": c.stopped_at,
            "met": c.met,
        }
        for c in rows
        if isinstance(c, SlaClock)
    ]
    connection = session.connection()
    if events:
        connection.execute(_INSERT_EVENTS, events)
    if messages:
        connection.execute(_INSERT_MESSAGES, messages)
    if clocks:
        connection.execute(_INSERT_CLOCKS, clocks)


# `.inline()`: no RETURNING of the ids, which a pipeline could not read back (and no one does).
_INSERT_EVENTS = insert(TicketEvent).inline()
_INSERT_MESSAGES = insert(TicketMessage).inline()
_INSERT_CLOCKS = insert(SlaClock).inline()


def add_row(row: BulkRow, session: Session) -> None:
    """Add the row to the session, or to the rows `rows_in_bulk` writes at its end."""
    pending = session.info.get(_BULK)
    if pending is None:
        session.add(row)
    else:
        pending.append(row)


def format_number(ticket_id: int) -> str:
    return f"{TICKET_PREFIX}{ticket_id:06d}"


# PostgreSQL: a new ticket's id taken from its column's own sequence before its INSERT (no one
# else ever gets it), so its number is written in the INSERT, not by an UPDATE after it.
_PG_NEXT_ID = sql("SELECT nextval(pg_get_serial_sequence('tickets', 'id'))")
# A new request's ticket (inside `rows_in_bulk`): the id of its first notification in the same
# round trip, kept in the session under this key for notify.give_ids (unused, it is a gap in
# the notifications' ids, as a rolled-back INSERT leaves one).
_PG_NEXT_IDS = sql(
    "SELECT nextval(pg_get_serial_sequence('tickets', 'id')),"
    " nextval(pg_get_serial_sequence('notifications', 'id'))"
)
SPARE_NOTIFICATION_IDS = "okno_spare_notification_ids"
# Elsewhere (SQLite) the id is known only once inserted: the number follows in one plain UPDATE.
# Not the ORM's (a versioned UPDATE in the next flush, ~0.5 ms per ticket): no one else can see
# or change the row before this transaction commits, so there is nothing for the version to
# guard. (Computing id and number in the INSERT as SQL expressions cost more than that UPDATE.)
_SET_NUMBER = (
    update(Ticket)
    .where(Ticket.id == bindparam("tid"))
    .values(number=bindparam("num"), updated_at=bindparam("at"))
)


def add_ticket(ticket: Ticket, *, session: Session, actor: str = "system") -> Ticket:
    """Insert a ticket, give it its human number and its `created` event."""
    if ticket.id is None and session.get_bind().dialect.name == "postgresql":
        if _BULK in session.info and ticket.parent_id is None:
            # A new request's ticket: its "created" notification's id comes along
            ticket.id, spare = session.connection().execute(_PG_NEXT_IDS).one()
            session.info.setdefault(SPARE_NOTIFICATION_IDS, []).append(spare)
        else:
            ticket.id = session.connection().scalar(_PG_NEXT_ID)
        ticket.number = format_number(ticket.id)
    if ticket in session or has_relations(ticket):
        session.add(ticket)  # already added, or a relationship to sync: the unit of work
        session.flush()
    else:
        session.flush()  # whatever it refers to is written first, as the unit of work would
        insert_row(ticket, session=session)
    number = format_number(ticket.id)
    if ticket.number != number:
        params = {"tid": ticket.id, "num": number, "at": ticket.updated_at}
        session.connection().execute(_SET_NUMBER, params)
        set_committed_value(ticket, "number", number)  # what the row now holds
    _created_event(ticket, actor, session=session)
    return ticket


def _created_event(ticket: Ticket, actor: str, *, session: Session) -> None:
    record_event(
        ticket,
        "created",
        to_value=ticket.status,
        actor=actor,
        session=session,
        data={"service": ticket.service_code, "team": ticket.team_code},
    )


# PostgreSQL: several new tickets' ids from the sequence in one round trip (a fan-out's).
_PG_NEXT_N_IDS = sql(
    "SELECT nextval(pg_get_serial_sequence('tickets', 'id')) FROM generate_series(1, :n)"
)


def add_tickets(tickets: list[Ticket], *, session: Session, actor: str = "system") -> None:
    """`add_ticket` for each, in order. PostgreSQL: their ids in one round trip and their
    INSERTs in one more (psycopg's pipeline), not two round trips a ticket (issue #20: an
    onboarding request's five sub-tickets took ten); elsewhere, or for one the unit of work
    must write (already in the session, a relationship set), one by one."""
    plain = all(t.id is None and t not in session and not has_relations(t) for t in tickets)
    if len(tickets) < 2 or not plain or session.get_bind().dialect.name != "postgresql":
        for ticket in tickets:
            add_ticket(ticket, session=session, actor=actor)
        return
    ids = session.connection().scalars(_PG_NEXT_N_IDS, {"n": len(tickets)}).all()
    for ticket, ticket_id in zip(tickets, sorted(ids), strict=True):
        ticket.id, ticket.number = ticket_id, format_number(ticket_id)
    session.flush()  # whatever they refer to is written first, as the unit of work would
    with pipelined(session.connection()):
        for ticket in tickets:
            insert_row(ticket, session=session)
    for ticket in tickets:
        _created_event(ticket, actor, session=session)


def write_now(session: Session, *, changed: list[Any], new: list[Any]) -> None:
    """A message's last writes in Core, the way the commit's flush would make them: the rows
    `held_for_write_now` kept, `changed` persistent objects' UPDATEs, then `new` objects'
    INSERTs (those already numbered; others are left to the flush). PostgreSQL: all in one
    round trip. Issue #20: the unit of work's flush of the message row and its first
    notification was a sixth of a new ticket's worker time (models/rows.py)."""
    if session.get_bind().dialect.name == "postgresql":
        new = [o for o in new if o.id is not None]  # in a pipeline nothing is read back
    held: list[BulkRow] = session.info.get(_HELD, [])
    rows, held[:] = list(held), []
    with pipelined(session.connection()):
        if rows:
            _write(rows, session=session)
        for obj in changed:
            state = inspect(obj)
            if state.persistent and state.modified and not state.mapper.version_id_col:
                update_row(obj, session=session)
        for obj in new:
            state = inspect(obj)
            if (state.pending or state.transient) and not has_relations(obj):
                insert_row(obj, session=session)


def record_event(
    ticket: Ticket,
    kind: str,
    *,
    session: Session,
    from_value: str | None = None,
    to_value: str | None = None,
    actor: str = "system",
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """Write one audit event; the one place ticket events are recorded."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown ticket event kind {kind!r}")
    event = TicketEvent(
        ticket_id=ticket.id,
        kind=kind,
        from_value=from_value,
        to_value=to_value,
        actor=actor,
        data=data or {},
    )
    add_row(event, session)
    mark_dirty(session, ticket.created_at)  # an over day's analytics rollup is read live again
    enqueue_webhooks(session=session, ticket=ticket, event=event)
    return event


def add_message(
    ticket: Ticket,
    *,
    session: Session,
    direction: str,
    body: str,
    channel: str | None = None,
    author: str | None = None,
    attachments: list[Any] | None = None,
    inbound_message_id: int | None = None,
    author_user_id: int | None = None,
) -> TicketMessage:
    msg = TicketMessage(
        ticket_id=ticket.id,
        direction=direction,
        body=body,
        channel=channel,
        author=author,
        attachments=attachments or [],
        inbound_message_id=inbound_message_id,
        author_user_id=author_user_id,
    )
    add_row(msg, session)
    return msg


def by_number(number: str, *, session: Session) -> Ticket | None:
    return session.scalar(select(Ticket).where(Ticket.number == number.upper()))
