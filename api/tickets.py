"""Specialists' read endpoints: tickets and the service catalogue."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from api.auth import CurrentUser, scope, visible_ticket
from api.deps import SessionDep
from api.employee_schemas import employee_out
from api.schemas import ChildOut, EventOut, MessageOut, ServiceOut, TicketDetail, TicketSummary
from api.views import ETAG_HEADER, TicketNumber, error_responses, etag, extras, sla_flags
from models.db import Service, Ticket

router = APIRouter(prefix="/api/v1", tags=["tickets"])


def summary(ticket: Ticket) -> dict[str, object]:
    return dict(
        number=ticket.number,
        subject=ticket.subject,
        service=ticket.service_code,
        team=ticket.team_code,
        status=ticket.status,
        priority=ticket.priority,
        channel=ticket.origin_channel,
        requester=ticket.requester_address,
        requester_verified=ticket.requester_verified,
        assignee_id=ticket.assignee_id,
        response_due_at=ticket.response_due_at,
        resolution_due_at=ticket.resolution_due_at,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        version=ticket.version,
        **sla_flags(ticket),
    )


def detail(ticket: Ticket, *, session: SessionDep) -> TicketDetail:
    parent = session.get(Ticket, ticket.parent_id) if ticket.parent_id else None
    return TicketDetail(
        **summary(ticket),  # type: ignore[arg-type]
        requester_name=ticket.requester_name,
        language=ticket.language,
        routing=ticket.routing,
        classifier={
            "version": ticket.classifier_version,
            "confidence": ticket.confidence,
            "predicted_service": ticket.predicted_service_code,
            "candidates": ticket.candidates,
            "reasons": ticket.reasons,
        },
        notes=ticket.notes,
        parent=parent.number if parent else None,
        children=[
            ChildOut(
                number=c.number,
                service=c.service_code,
                team=c.team_code,
                status=c.status,
                stage=c.stage,
            )
            for c in ticket.children
            if c.number
        ],
        stage=ticket.stage,
        fields=ticket.process_fields or {},
        resolution=ticket.resolution,
        messages=[MessageOut.model_validate(m, from_attributes=True) for m in ticket.messages],
        events=[EventOut.model_validate(e, from_attributes=True) for e in ticket.events],
        **extras(ticket, session=session),
        requester_employee=(
            employee_out(ticket.requester, session=session) if ticket.requester else None
        ),
    )


@router.get(
    "/tickets",
    response_model=list[TicketSummary],
    responses=error_responses(401, 422),
    summary="List tickets (your teams'; analysts and admins: all)",
)
def list_tickets(
    session: SessionDep,
    user: CurrentUser,
    team: str | None = None,
    status: str | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=1_000_000),
) -> list[TicketSummary]:
    query = scope(select(Ticket).order_by(Ticket.resolution_due_at, Ticket.id), user)
    if team:
        query = query.where(Ticket.team_code == team)
    if status:
        query = query.where(Ticket.status == status)
    rows = session.scalars(query.limit(limit).offset(offset))
    return [TicketSummary(**summary(t)) for t in rows]  # type: ignore[arg-type]


@router.get(
    "/tickets/{number}",
    response_model=TicketDetail,
    responses={200: {"headers": ETAG_HEADER}, **error_responses(401, 404, 422)},
    summary="One ticket with messages, events and the classifier's candidates",
    description="The ETag header carries the ticket's version: send it as If-Match to act on it.",
)
def get_ticket(
    number: TicketNumber, session: SessionDep, user: CurrentUser, response: Response
) -> TicketDetail:
    ticket = visible_ticket(number, user, session=session)
    response.headers["ETag"] = etag(ticket)
    return detail(ticket, session=session)


@router.get(
    "/services",
    response_model=list[ServiceOut],
    tags=["catalogue"],
    summary="The service catalogue",
    description="Public: the portal's web form offers these services to every requester.",
)
def list_services(session: SessionDep) -> list[ServiceOut]:
    rows = session.scalars(select(Service).where(Service.active.is_(True)).order_by(Service.code))
    return [
        ServiceOut(
            team=s.team_code,
            **{
                k: getattr(s, k)
                for k in (
                    "code",
                    "name_ru",
                    "name_en",
                    "description_ru",
                    "description_en",
                    "priority",
                    "response_hours",
                    "resolution_hours",
                    "process",
                )
            },
        )
        for s in rows
    ]
