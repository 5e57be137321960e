"""`okno process start CODE --field k=v …`: start a cross-department process from the shell."""

from __future__ import annotations

import click

from models.types import utcnow
from router.lifecycle import process_start, states
from scripts.user_cli import user_session

__all__ = ["process"]


@click.group()
def process() -> None:
    """Cross-department processes (onboarding, offboarding, a business trip)."""


@process.command("start")
@click.argument("code")
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE", help="Repeat per field.")
@click.option(
    "--requester", help="E-mail of who hears the milestones (default: the manager_email field)."
)
@click.option("--subject", help="The parent ticket's subject (default: the process and fields).")
@click.option("--language", type=click.Choice(["ru", "en"]), help="Of the messages.")
def process_start_command(
    code: str,
    fields: tuple[str, ...],
    requester: str | None,
    subject: str | None,
    language: str | None,
) -> None:
    """Open the parent ticket and every sub-ticket; later stages wait as `planned`.

    The requester's e-mail is written to the outbox; a running worker's sweeper sends it.
    """
    values = dict(_pair(f) for f in fields)
    requester = requester or values.get("manager_email")
    if not requester:
        raise click.UsageError("give --requester (or a manager_email field)")
    try:
        with user_session() as session:
            outcome = process_start.start(
                session=session,
                code=code,
                fields=values,
                requester=requester,
                actor="cli",
                now=utcnow(),
                subject=subject,
                language=language,
            )
            parent = outcome.changed
            lines = [f"Started {code}: {parent.number}"]
            for child in sorted(parent.children, key=lambda c: c.id):
                lines.append(
                    f"  stage {child.stage}: {child.number} {child.service_code} {child.status}"
                )
    except states.WorkflowError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo("\n".join(lines))


def _pair(raw: str) -> tuple[str, str]:
    name, sep, value = raw.partition("=")
    if not sep or not name.strip():
        raise click.BadParameter(f"{raw!r} is not NAME=VALUE", param_hint="--field")
    return name.strip(), value
