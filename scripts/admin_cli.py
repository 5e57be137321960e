"""`okno db upgrade` and `okno catalog load`: the schema and the service catalogue."""

from __future__ import annotations

from pathlib import Path

import click

from models.db import session_scope
from models.migrate import upgrade
from router.catalog import CatalogError, load_catalog
from scripts.runtime import cli_runtime, cli_settings


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations."""
    settings = cli_settings()
    upgrade(settings.effective_database_url, revision)
    click.echo(f"database at {settings.effective_database_url} is at {revision}")


@click.group()
def catalog() -> None:
    """The service catalogue."""


@catalog.command("load")
@click.argument("file", type=click.Path(path_type=Path))
def catalog_load(file: Path) -> None:
    """Upsert teams, services, SLA policies and process templates from a YAML file."""
    runtime = cli_runtime()
    try:
        with session_scope(runtime.sessions) as session:
            report = load_catalog(file, session=session)
    except CatalogError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"catalogue loaded: {report}")
