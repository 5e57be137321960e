"""`okno webhook add | list | remove | deliveries`: signed outbound webhooks per service and event."""

from __future__ import annotations

import json
from typing import Any

import click

from router.webhook_subscriptions import (
    EVENTS,
    WebhookError,
    add_subscription,
    deliveries,
    remove_subscription,
    subscription_json,
    subscriptions,
)
from scripts.user_cli import user_session

__all__ = ["webhook"]


@click.group()
def webhook() -> None:
    """Outbound webhooks: other systems follow tickets (signed POSTs, retried for a day)."""


@webhook.command("add")
@click.option("--url", required=True, help="http:// or https:// endpoint that receives the POSTs.")
@click.option("--events", required=True, help=f"Comma-separated, some of: {','.join(EVENTS)}.")
@click.option("--service", help="Only tickets of this service (catalogue code).")
@click.option("--team", help="Only tickets of this team (code).")
def webhook_add(url: str, events: str, service: str | None, team: str | None) -> None:
    """Subscribe a URL; prints the signing secret once, alone on the last line."""
    try:
        with user_session() as session:
            sub = add_subscription(
                session=session, url=url, events=events.split(","), service=service, team=team
            )
            who, secret = _describe(subscription_json(sub)), sub.secret
    except WebhookError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Created webhook {who}.")
    click.echo("The signing secret (X-Okno-Signature) is shown only now:")
    click.echo(secret)


@webhook.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
def webhook_list(as_json: bool) -> None:
    """Every subscription (secrets are not shown)."""
    with user_session() as session:
        rows = [subscription_json(s) for s in subscriptions(session=session)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        click.echo(_describe(row))
    if not rows:
        click.echo("no webhooks")


@webhook.command("remove")
@click.argument("subscription_id", type=int)
def webhook_remove(subscription_id: int) -> None:
    """Delete a subscription with its delivery history; pending deliveries are dropped."""
    try:
        with user_session() as session:
            remove_subscription(subscription_id, session=session)
    except WebhookError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Removed webhook {subscription_id}.")


@webhook.command("deliveries")
@click.option("--id", "subscription_id", type=int, help="Only this subscription's.")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON array, attempts included.")
def webhook_deliveries(
    subscription_id: int | None, status: str | None, limit: int, as_json: bool
) -> None:
    """The newest deliveries first, with every attempt."""
    with user_session() as session:
        rows = deliveries(
            session=session, subscription_id=subscription_id, status=status, limit=limit
        )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        last = row["attempts"][-1] if row["attempts"] else {}
        click.echo(
            f"{row['id']}  webhook {row['subscription_id']}  {row['event']:<22} "
            f"{row['status']:<9} {len(row['attempts'])} attempt(s)  "
            f"{last.get('status_code') or last.get('error') or ''}"
        )


def _describe(row: dict[str, Any]) -> str:
    scope = (
        f"service {row['service']}"
        if row["service"]
        else f"team {row['team']}"
        if row["team"]
        else "all tickets"
    )
    return f"#{row['id']} {row['url']} ({', '.join(row['events'])}; {scope})"
