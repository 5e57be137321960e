"""Actions that move a ticket relative to others: reassign to another service/team, merge, link."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models.db import NotificationRow, Service, Team, Ticket, TicketLink
from models.types import NotificationKind, utcnow
from router import notify, sla, texts
from router.lifecycle.outcome import Outcome
from router.lifecycle.processes import fan_out, followed
from router.lifecycle.records import record_event
from router.lifecycle.states import (
    CLOSED,
    Conflict,
    InvalidInput,
    actor_of,
    check,
    load,
    move,
)

LINK_KINDS = ("related", "blocks", "follow_up", "duplicate")
OTHER = "other"  # the requester's "something else" answer: the ticket stays in triage


def reassign(
    *,
    session: Session,
    ticket_number: str,
    user_id: int,
    reason: str,
    service_code: str | None = None,
    team_code: str | None = None,
    expected_version: int | None = None,
) -> Outcome:
    """Send the ticket to another service (and its team) or team; the correction is audited.

    `predicted_service_code` keeps what the classifier said, so a resolved ticket whose
    `service_code` differs is the corrected training label `okno model export` reads.
    """
    ticket = load(ticket_number, session=session, expected_version=expected_version)
    user = actor_of(user_id, session=session)
    check(ticket, "reassign")
    service, team = _destination(service_code, team_code, session=session)
    new_service = service.code if service else None
    if (new_service, team) == (ticket.service_code, ticket.team_code):
        raise Conflict(
            f"{ticket.number} is already with {_place(team, new_service)}", code="no_change"
        )
    old = {"service": ticket.service_code, "team": ticket.team_code}
    old_place = _place(ticket.team_code, ticket.service_code)
    ticket.service_code, ticket.team_code, ticket.assignee_id = new_service, team, None
    if service is not None:
        ticket.priority = service.priority
    # The clocks keep the working time already spent (paused time stays out) and re-plan
    # what is left on the new service's targets and the new team's calendar.
    sla.set_due_dates(ticket, service, ticket.created_at, session=session)
    record_event(
        ticket,
        "reassigned",
        session=session,
        from_value=old_place,
        to_value=_place(team, new_service),
        actor=user.email,
        data={
            "from": old,
            "to": {"service": new_service, "team": team},
            "reason": reason,
            "predicted_service": ticket.predicted_service_code,
        },
    )
    now = utcnow()
    move(ticket, "reassign", session=session, actor=user.email, now=now)
    moved = team != old["team"]
    told = _tell_new_team(ticket, session=session) if moved else []
    return followed(Outcome(ticket, told), session=session, actor=user.email, now=now)


def _tell_new_team(ticket: Ticket, *, session: Session) -> list[NotificationRow]:
    """The requester hears which team has the request now (a service change alone is ours)."""
    row = session.scalar(select(Team).where(Team.code == ticket.team_code))
    name = getattr(row, f"name_{texts.lang(ticket.language)}", None) or ticket.team_code
    text = texts.render("reassigned", ticket.language, number=ticket.number, team=name)
    note = notify.outbox(ticket, NotificationKind.status, text, session=session)
    return [note] if note else []


def _place(team: str, service: str | None) -> str:
    """How an audit event names where a ticket is: `team:service`, or the team alone."""
    return f"{team}:{service}" if service else team


def _destination(
    service_code: str | None, team_code: str | None, *, session: Session
) -> tuple[Service | None, str]:
    """The active service and the team it belongs to; a team alone leaves the service unknown."""
    if not service_code and not team_code:
        raise InvalidInput("give a service, a team, or both", code="no_destination")
    if not service_code:
        if session.scalar(select(Team.code).where(Team.code == team_code)) is None:
            raise InvalidInput(f"no team {team_code!r}", code="unknown_team", field="team")
        return None, str(team_code)
    service = session.scalar(
        select(Service).where(Service.code == service_code, Service.active.is_(True))
    )
    if service is None:
        raise InvalidInput(
            f"no active service {service_code!r}", code="unknown_service", field="service"
        )
    if team_code and team_code != service.team_code:
        raise InvalidInput(
            f"service {service.code} belongs to team {service.team_code}, not {team_code}",
            code="service_not_in_team",
            field="team",
        )
    return service, service.team_code


def merge(
    *,
    session: Session,
    ticket_number: str,
    into_number: str,
    user_id: int,
    expected_version: int | None = None,
) -> Outcome:
    """Close a duplicate into the ticket that carries on; both get an event, the two are linked."""
    ticket = load(ticket_number, session=session, expected_version=expected_version)
    user = actor_of(user_id, session=session)
    target = _other(ticket, into_number, session=session)
    if target.status == CLOSED:
        raise Conflict(
            f"{target.number} is closed; merge into an open or resolved ticket",
            code="target_closed",
        )
    check(ticket, "merge")
    ticket.merged_into_id = target.id
    ticket.resolution = f"Merged into {target.number}"
    move(ticket, "merge", session=session, actor=user.email, now=utcnow())
    record_event(ticket, "merged_into", session=session, to_value=target.number, actor=user.email)
    record_event(
        target,
        "merged",
        session=session,
        from_value=ticket.number,
        actor=user.email,
        data={"subject": ticket.subject, "requester": ticket.requester_address},
    )
    target.updated_at = ticket.updated_at
    _add_link(ticket, target, "duplicate", session=session)
    text = texts.render("merged", ticket.language, number=ticket.number, other=target.number)
    note = notify.outbox(ticket, NotificationKind.status, text, session=session)
    outcome = Outcome(ticket, [note] if note else [])
    return followed(outcome, session=session, actor=user.email, now=ticket.updated_at)


def link(
    *,
    session: Session,
    ticket_number: str,
    other_number: str,
    user_id: int,
    kind: str = "related",
    expected_version: int | None = None,
) -> Outcome:
    """Record that two tickets belong together; a pair is linked once, in either direction."""
    if kind not in LINK_KINDS:
        raise InvalidInput(f"link kind must be one of {', '.join(LINK_KINDS)}", field="kind")
    ticket = load(ticket_number, session=session, expected_version=expected_version)
    user = actor_of(user_id, session=session)
    other = _other(ticket, other_number, session=session)
    existing = find_link(ticket.id, other.id, session=session)
    if existing is not None:
        raise Conflict(
            f"{ticket.number} and {other.number} are already linked ({existing.kind})",
            code="already_linked",
        )
    _add_link(ticket, other, kind, session=session)
    now = utcnow()
    for one, two in ((ticket, other), (other, ticket)):
        record_event(
            one,
            "linked",
            session=session,
            to_value=two.number,
            actor=user.email,
            data={"kind": kind},
        )
        one.updated_at = now
    return Outcome(ticket)


def _other(ticket: Ticket, number: str, *, session: Session) -> Ticket:
    other = load(number, session=session)
    if other.id == ticket.id:
        raise InvalidInput(f"{ticket.number} cannot refer to itself", code="same_ticket")
    return other


def find_link(one: int, two: int, *, session: Session) -> TicketLink | None:
    return session.scalar(
        select(TicketLink).where(
            or_(
                (TicketLink.ticket_id == one) & (TicketLink.other_id == two),
                (TicketLink.ticket_id == two) & (TicketLink.other_id == one),
            )
        )
    )


def _add_link(ticket: Ticket, other: Ticket, kind: str, *, session: Session) -> None:
    if find_link(ticket.id, other.id, session=session) is None:
        session.add(TicketLink(ticket_id=ticket.id, other_id=other.id, kind=kind))


def route_by_requester(ticket: Ticket, service: Service | None, *, session: Session) -> None:
    """The requester's choice routes the ticket (OTHER leaves it in triage); SLA from the ask."""
    if service is None:
        _record_choice(ticket, None, session=session)
        return
    old_team = ticket.team_code
    ticket.service_code, ticket.team_code = service.code, service.team_code
    ticket.priority, ticket.routing = service.priority, "requester"
    sla.set_due_dates(ticket, service, ticket.created_at, session=session)
    _record_choice(ticket, service, session=session, team_from=old_team)
    # A chosen process service (a new hire) fans out exactly as a routed one would.
    fan_out(ticket, session=session, now=ticket.created_at)


def _record_choice(
    ticket: Ticket, service: Service | None, *, session: Session, team_from: str | None = None
) -> None:
    """The "clarified" event is the training label: what the classifier guessed, what was meant."""
    record_event(
        ticket,
        "clarified",
        session=session,
        from_value=None,
        to_value=service.code if service else None,
        actor="requester",
        data={
            "choice": service.code if service else OTHER,
            "predicted": ticket.predicted_service_code,
            "confidence": ticket.confidence,
            "team_from": team_from or ticket.team_code,
            "team_to": ticket.team_code,
        },
    )
