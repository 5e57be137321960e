"""`/agent/analytics`: the analytics summary as server-side SVG charts, for leads and analysts,
and the proactive suggestions (baseline, recurring, new catalogue services) to dismiss or mark done.

The numbers are `router.analytics_rollup.summarize` as the API's `GET /api/v1/analytics/summary`
returns them; the weekly series calls it once per week. The suggestions are
`GET /api/v1/analytics/suggestions`'s (the last 90 days), the buttons its `POST …/{verdict}`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.agent import session as web_session
from api.agent.web import render, to_login, who
from api.auth import Role
from api.deps import RuntimeDep, SessionDep
from models.types import utcnow
from router import analytics_rollup as rollup
from router import suggestions as proactive

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
        week = rollup.summarize(session=db, since=since, until=until)
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
    summary = rollup.summarize(session=db, since=None, until=None)
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
        "suggestions": _open_suggestions(db),
    }
    return render(request, "analytics.html", ctx, agent=agent)


def _open_suggestions(db: SessionDep, include_closed: bool = False) -> list[dict[str, Any]]:
    where = [proactive_window()]
    return proactive.suggest(session=db, where=where, include_closed=include_closed)


def proactive_window() -> Any:
    from models.db import Ticket

    return Ticket.created_at >= proactive.default_since()


VERDICTS = {"dismiss": "dismissed", "done": "done", "reopen": "open"}


@router.post("/analytics/suggestions/{suggestion_id}/{verdict}", response_class=HTMLResponse)
def suggestion_verdict(
    suggestion_id: str,
    verdict: str,
    request: Request,
    runtime: RuntimeDep,
    db: SessionDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Dismiss, mark done or reopen one suggestion; htmx swaps its card, a form reloads the page."""
    agent = who(request, runtime, db)
    if agent is None:
        return to_login(request)
    if agent[0].role not in READERS:
        return render(request, "error.html", {"message": "forbidden"}, status=403, agent=agent)
    if not web_session.csrf_ok(agent[1].csrf, csrf):
        return render(request, "error.html", {"message": "bad_csrf"}, status=403, agent=agent)
    found = [s for s in _open_suggestions(db, True) if s["id"] == suggestion_id]
    if verdict not in VERDICTS or not found:
        return render(request, "error.html", {"message": "no_suggestion"}, status=404, agent=agent)
    state = VERDICTS[verdict]
    proactive.set_state(session=db, suggestion=found[0], state=state, actor=agent[0].email)
    db.commit()
    if not request.headers.get("hx-request"):
        return RedirectResponse("/agent/analytics#suggestions", status_code=303)
    card = {"s": {**found[0], "state": state}}
    return render(request, "analytics_suggestion.html", card, agent=agent)
