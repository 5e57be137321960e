"""`/agent/analytics`: the analytics summary as server-side SVG charts, for leads and analysts.

The numbers are `router.analytics.summarize` as the API's `GET /api/v1/analytics/summary`
returns them; the weekly series calls it once per week.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.agent.web import render, to_login, who
from api.auth import Role
from api.deps import RuntimeDep, SessionDep
from models.types import utcnow
from router import analytics as stats

router = APIRouter(prefix="/agent", include_in_schema=False)
READERS = (Role.lead, Role.analyst, Role.admin)
WEEKS = 8


def bars(counts: dict[str, int | float]) -> list[dict[str, Any]]:
    """Rows of a horizontal bar chart, largest first, each with its share of the largest."""
    top = max(counts.values(), default=0) or 1
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"label": k, "value": v, "fraction": v / top} for k, v in rows]


def percent(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 1)


def weekly(db: SessionDep) -> list[dict[str, Any]]:
    """Classifier coverage and SLA compliance per week, oldest first."""
    end = utcnow()
    out = []
    for i in range(WEEKS, 0, -1):
        since, until = end - timedelta(weeks=i), end - timedelta(weeks=i - 1)
        week = stats.summarize(session=db, where=stats.created_between(since, until))
        breach = week["sla_breach_share"]
        out.append(
            {
                "label": since.strftime("%d.%m"),
                "tickets": week["tickets"],
                "coverage": percent(week["auto_routed_share"]),
                "compliance": None if breach is None else round(100 * (1 - breach), 1),
            }
        )
    return out


@router.get("/analytics", response_class=HTMLResponse)
def analytics_page(request: Request, runtime: RuntimeDep, db: SessionDep) -> Response:
    agent = who(request, runtime, db)
    if agent is None:
        return to_login()
    if agent[0].role not in READERS:
        return render(request, "error.html", {"message": "forbidden"}, status=403, agent=agent)
    summary = stats.summarize(session=db, where=[])
    breach = summary["sla_breach_share"]
    ctx = {
        "summary": summary,
        "channels": bars(summary["by_channel"]),
        "teams": bars(summary["by_team"]),
        "routing": bars(summary["by_routing"]),
        "rates": [
            ("sla_compliance", None if breach is None else round(100 * (1 - breach), 1)),
            ("reassigned_share", percent(summary["reassigned_share"])),
            ("auto_routed_share", percent(summary["auto_routed_share"])),
        ],
        "weeks": weekly(db),
    }
    return render(request, "analytics.html", ctx, agent=agent)
