"""`okno sla …`: what an administrator runs to check calendars and SLA targets."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from models.db import Service, session_scope
from models.types import Priority, utcnow
from router.lifecycle.calendar import ALWAYS
from router.lifecycle.sla_plan import plan_for
from scripts.runtime import cli_runtime


@click.group()
def sla() -> None:
    """SLA calendars and clocks."""


@sla.command("due")
@click.option("--service", "service_code", required=True, help="Service code.")
@click.option(
    "--priority", type=click.Choice(list(Priority.__members__)), help="Default: the service's."
)
@click.option("--branch", help="The requester's branch (code or name).")
@click.option(
    "--at", "at", help="ISO-8601 start; without an offset it is the calendar's local time."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def sla_due(
    service_code: str, priority: str | None, branch: str | None, at: str | None, as_json: bool
) -> None:
    """Response and resolution due times of a ticket raised at --at (default now)."""
    runtime = cli_runtime()
    with session_scope(runtime.sessions) as session:
        service = session.scalar(select(Service).where(Service.code == service_code))
        if service is None:
            raise click.UsageError(f"unknown service '{service_code}'")
        plan = plan_for(
            session=session,
            service=service,
            priority=priority or service.priority,
            team_code=service.team_code,
            branch=branch,
        )
    zone = plan.calendar.zone
    if plan.calendar.code == ALWAYS:
        zone = ZoneInfo(runtime.settings.default_timezone)
    start = _start(at, zone)
    response, resolution = plan.due(start)
    out = {
        "response_due_at": response.astimezone(zone).isoformat(),
        "resolution_due_at": resolution.astimezone(zone).isoformat(),
        "calendar": plan.calendar.code,
    }
    if as_json:
        click.echo(json.dumps(out))
        return
    for key, value in out.items():
        click.echo(f"{key}: {value}")


def _start(at: str | None, zone: ZoneInfo) -> datetime:
    if at is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(at)
    except ValueError as exc:
        raise click.BadParameter(f"'{at}' is not an ISO-8601 time", param_hint="--at") from exc
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
