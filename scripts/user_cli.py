"""`okno user add | revoke | token`: API users and their tokens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from models.db import User, make_engine, session_scope
from router.users import Role, UserError, create_user, issue_token, revoke
from scripts.runtime import cli_settings

__all__ = ["user"]


@contextmanager
def user_session() -> Iterator[Session]:
    """A session on the configured database; only the database, no Redis, is needed here."""
    engine = make_engine(cli_settings().effective_database_url)
    try:
        with session_scope(engine) as session:
            yield session
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    except (OperationalError, ProgrammingError) as exc:
        raise click.ClickException(
            f"cannot use the database ({type(exc).__name__}); run `okno db upgrade` first?"
        ) from exc
    finally:
        engine.dispose()


def describe(user: User) -> str:
    teams = ", ".join(user.team_codes) or "no team"
    return f"{user.name} <{user.email}> ({user.role}; {teams})"


def print_token(who: str, token: str) -> None:
    """The token alone on the last line, so scripts can take it with `tail -n 1`."""
    click.echo(f"{who}.")
    click.echo("The API token is shown only now; Okno keeps just its hash:")
    click.echo(token)


@click.group()
def user() -> None:
    """API users (specialists, leads, analysts, admins) and their tokens."""


@user.command("add")
@click.option("--name", required=True, help="Full name.")
@click.option("--email", required=True, help="Work e-mail; it identifies the user.")
@click.option("--team", "teams", multiple=True, help="Team code; repeat for several teams.")
@click.option(
    "--role",
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="specialist/lead: their teams' tickets; analyst: reads all; admin: everything.",
)
def user_add(name: str, email: str, teams: tuple[str, ...], role: str) -> None:
    """Create a user and print its API token once, alone on the last line."""
    with user_session() as session:
        created, token = create_user(
            session=session, name=name, email=email, role=role, teams=list(teams)
        )
        who = f"Created {describe(created)}, user id {created.id}"
    print_token(who, token)  # after the commit: never print a token that was not saved


@user.command("revoke")
@click.option("--email", required=True, help="The user's e-mail.")
def user_revoke(email: str) -> None:
    """Revoke the user's token and deactivate them (their ticket history stays)."""
    with user_session() as session:
        who = describe(revoke(session=session, email=email))
    click.echo(f"Revoked the token of {who}; the user is deactivated.")


@user.command("token")
@click.option("--email", required=True, help="The user's e-mail.")
def user_token(email: str) -> None:
    """Issue a new token (the old one stops working) and re-activate the user."""
    with user_session() as session:
        found, token = issue_token(session=session, email=email)
        who = f"New token for {describe(found)}, user id {found.id}"
    print_token(who, token)
