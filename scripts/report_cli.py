"""`okno report`: the analysts' service statistics from the command line."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from models.db import session_scope
from router import analytics
from scripts.runtime import cli_runtime


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def render(stats: dict[str, Any]) -> str:
    lines = [
        f"tickets: {stats['tickets']}",
        f"routed by the classifier alone: {_share(stats['auto_routed_share'])}",
        f"reassigned (misrouted): {_share(stats['reassigned_share'])}",
        f"SLA breached: {_share(stats['sla_breach_share'])}",
        f"average rating: {stats['average_rating'] or '—'} ({stats['ratings']} ratings)",
        "",
        f"{'team':<14}{'tickets':>9}{'avg hours to resolve':>24}",
    ]
    hours = stats["resolution_hours_by_team"]
    for team, count in sorted(stats["by_team"].items(), key=lambda kv: -kv[1]):
        lines.append(f"{team:<14}{count:>9}{hours.get(team, '—'):>24}")
    for title, key in (
        ("by channel", "by_channel"),
        ("by status", "by_status"),
        ("by routing", "by_routing"),
    ):
        parts = ", ".join(f"{k} {v}" for k, v in sorted(stats[key].items()))
        lines.append(f"{title}: {parts or '—'}")
    lines += _compliance(stats.get("sla_compliance") or {})
    return "\n".join(lines)


def _compliance(data: dict[str, Any]) -> list[str]:
    """SLA compliance per clock and team: `hr 90.0% (9/10)`."""
    lines = []
    for clock in ("response", "resolution"):
        for group, cells in (data.get(clock) or {}).items():
            parts = ", ".join(
                f"{key} {_share(c['compliance'])} ({c['met']}/{c['met'] + c['breached']})"
                for key, c in sorted(cells.items())
            )
            lines.append(f"{clock} SLA met {group.replace('_', ' ')}: {parts or '—'}")
    return lines


@click.command()
@click.option("--since", type=click.DateTime(), help="Tickets created at or after (UTC).")
@click.option("--until", type=click.DateTime(), help="Tickets created before (UTC).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
def report(since: datetime | None, until: datetime | None, as_json: bool) -> None:
    """Volumes, routing quality, SLA breaches and satisfaction, overall and per team."""
    runtime = cli_runtime()
    with session_scope(runtime.sessions) as session:
        stats = analytics.summarize(session=session, where=analytics.created_between(since, until))
    click.echo(json.dumps(stats, ensure_ascii=False) if as_json else render(stats))
