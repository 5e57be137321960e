"""The one entry point: `okno <command>`."""

from __future__ import annotations

from pathlib import Path

import click

from models.db import session_scope
from models.migrate import upgrade
from router.catalog import CatalogError, load_catalog
from scripts.bench import bench
from scripts.email_cli import email, imap, smtp
from scripts.model_cli import bench_classifier, model
from scripts.report_cli import report
from scripts.runtime import cli_runtime, cli_settings
from scripts.services import api, run, worker
from scripts.sla_cli import sla
from scripts.telegram_cli import telegram
from scripts.user_cli import user


@click.group()
@click.version_option("0.1.0", prog_name="okno")
def main() -> None:
    """Okno: the single window of the shared service centre."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations."""
    settings = cli_settings()
    upgrade(settings.effective_database_url, revision)
    click.echo(f"database at {settings.effective_database_url} is at {revision}")


@main.group()
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


bench.add_command(bench_classifier)
for command in (run, api, worker, bench, email, smtp, imap, report, model, sla):
    main.add_command(command)
main.add_command(user)
main.add_command(telegram)


if __name__ == "__main__":
    main()
