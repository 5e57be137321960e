"""`okno report`: the analysts' service statistics from the command line."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from models.db import session_scope
from router import analytics
from router import analytics_slices as slicing
from router import suggestions as proactive
from scripts.runtime import cli_runtime

SHORT = {
    "tickets": "tickets",
    "first_response_p50_hours": "resp p50 h",
    "first_response_p90_hours": "resp p90 h",
    "resolution_p50_hours": "res p50 h",
    "resolution_p90_hours": "res p90 h",
    "response_sla_compliance": "resp SLA",
    "resolution_sla_compliance": "res SLA",
    "reassigned_share": "misrouted",
    "average_rating": "rating",
    "ratings": "ratings",
    "classifier_coverage": "auto",
    "classifier_precision": "auto ok",
}
SHARES = {
    "response_sla_compliance",
    "resolution_sla_compliance",
    "reassigned_share",
    "classifier_coverage",
    "classifier_precision",
}


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


def _cell(metric: str, value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.1%}" if metric in SHARES else str(value)


def render_slices(rows: list[dict[str, Any]], group_by: list[str]) -> str:
    """A fixed-width table: the dimensions, then every metric under a short heading."""
    head = [*group_by, *(SHORT[m] for m in slicing.METRICS)]
    body = [
        [str(r[d]) if r[d] is not None else "—" for d in group_by]
        + [_cell(m, r[m]) for m in slicing.METRICS]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    dims = len(group_by)
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < dims else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in [head, *body]
    )


@click.group(invoke_without_command=True)
@click.option("--since", type=click.DateTime(), help="Tickets created at or after (UTC).")
@click.option("--until", type=click.DateTime(), help="Tickets created before (UTC).")
@click.option(
    "--group-by",
    help=f"Slice by comma-separated dimensions: {', '.join(slicing.DIMENSIONS)}.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
@click.option("--csv", "as_csv", is_flag=True, help="The slices as CSV (as the API's export).")
@click.pass_context
def report(
    ctx: click.Context,
    since: datetime | None,
    until: datetime | None,
    group_by: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Volumes, routing quality, SLA and satisfaction, overall and sliced by group."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        dims = slicing.parse_group_by(group_by)
    except slicing.UnknownDimension as exc:
        raise click.BadParameter(str(exc), param_hint="--group-by") from exc
    from router import analytics_rollup as rollup  # numpy: only when a report is asked for

    runtime = cli_runtime()
    with session_scope(runtime.sessions) as session:
        if as_csv:
            stats, rows = (
                {},
                rollup.slices(session=session, since=since, until=until, group_by=dims),
            )
        else:
            stats = rollup.summarize(session=session, since=since, until=until, group_by=dims)
            rows = stats.pop("groups", None)
            stats.pop("group_by", None)
            if rows is None:
                rows = rollup.slices(session=session, since=since, until=until, group_by=dims)
    if as_csv:
        click.echo(slicing.to_csv(rows, dims), nl=False)
    elif as_json:
        click.echo(json.dumps({**stats, "group_by": dims, "groups": rows}, ensure_ascii=False))
    else:
        click.echo(render(stats) + "\n\n" + render_slices(rows, dims))


def render_suggestions(found: list[dict[str, Any]]) -> str:
    if not found:
        return "no suggestions"
    lines = []
    for s in found:
        head = f"{s['id']}  {s['kind']:<12}{s['requests']:>5} requests  {s['service'] or '—'}"
        lines.append(f"{head}  ({s['department'] or '—'})")
        if s["kind"] == "baseline":
            lines.append(
                f"    {s['share']:.0%} of the department's requests, {s['requester_count']} "
                f"requesters, {s['specialist_hours']} specialist hours: "
                + ", ".join(s["requesters"])
            )
        elif s["kind"] == "recurring":
            lines.append(
                f"    {s['requester']} every {s['period_days']} days; next about "
                f"{s['next_expected_at'][:10]}"
            )
        else:
            lines.append(f"    handled by {s['team']}; words: {', '.join(s['keywords'])}")
            lines.extend(f"    « {text} »" for text in s["examples"])
    return "\n".join(lines)


@report.command("suggestions")
@click.option("--since", type=click.DateTime(), help="Tickets created at or after (UTC); 90 days.")
@click.option("--until", type=click.DateTime(), help="Tickets created before (UTC).")
@click.option("--all", "include_closed", is_flag=True, help="Dismissed and done ones too.")
@click.option("--json", "as_json", is_flag=True, help='Last line: {"suggestions": [...]}.')
def suggestions(
    since: datetime | None, until: datetime | None, include_closed: bool, as_json: bool
) -> None:
    """Baseline, recurring and new catalogue services the request history suggests."""
    runtime = cli_runtime()
    where = analytics.created_between(since or proactive.default_since(), until)
    with session_scope(runtime.sessions) as session:
        found = proactive.suggest(session=session, where=where, include_closed=include_closed)
    if as_json:
        click.echo(json.dumps({"suggestions": found}, ensure_ascii=False))
    else:
        click.echo(render_suggestions(found))
