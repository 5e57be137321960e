"""`okno directory import | sync-ldap`: fill the employees table from a CSV file or LDAP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from models.settings import SettingsError, read_settings
from router.directory import DirectoryError, ImportReport, Record, apply, read_csv
from router.directory_ldap import LdapSettings, fetch, records
from scripts.user_cli import user_session

__all__ = ["directory"]


@click.group()
def directory() -> None:
    """The employee directory: who the requesters are (department, branch, manager)."""


@directory.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--deactivate-missing", is_flag=True, help="Deactivate everyone the file does not list."
)
@click.option("--dry-run", is_flag=True, help="Validate and count; change nothing.")
def directory_import(file: Path, deactivate_missing: bool, dry_run: bool) -> None:
    """Upsert employees by e-mail from a CSV (header email,name,phone,department,branch,…)."""
    try:
        rows, rejected = read_csv(file.read_bytes())
    except DirectoryError as exc:
        raise click.ClickException(str(exc)) from exc
    _upsert(rows, rejected, source="csv", deactivate_missing=deactivate_missing, dry_run=dry_run)


@directory.command("sync-ldap")
@click.option(
    "--deactivate-missing", is_flag=True, help="Deactivate everyone the directory does not list."
)
@click.option("--dry-run", is_flag=True, help="Read and count; change nothing.")
def directory_sync_ldap(deactivate_missing: bool, dry_run: bool) -> None:
    """Upsert employees from LDAP / Active Directory (settings OKNO_LDAP_*)."""
    try:
        entries = fetch(read_settings(LdapSettings))
    except (DirectoryError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from exc
    rows, rejected = records(entries)
    _upsert(rows, rejected, source="ldap", deactivate_missing=deactivate_missing, dry_run=dry_run)


def _upsert(
    rows: list[Record],
    rejected: list[dict[str, Any]],
    *,
    source: str,
    deactivate_missing: bool,
    dry_run: bool,
) -> None:
    """One transaction for every good row; a dry run rolls it back."""
    with user_session() as session:
        report = apply(rows, session=session, source=source, deactivate_missing=deactivate_missing)
        if dry_run:
            session.rollback()
    report.rejected = rejected
    _print(report, dry_run=dry_run)


def _print(report: ImportReport, *, dry_run: bool) -> None:
    """A line for people, then the JSON summary alone on the last line for scripts."""
    for bad in report.rejected:
        where = f"line {bad['line']}" if "line" in bad else bad.get("dn", "?")
        click.echo(f"rejected {where}: {bad['reason']}")
    prefix = "dry run, nothing saved: " if dry_run else ""
    click.echo(
        f"{prefix}{report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.deactivated} deactivated, "
        f"{len(report.rejected)} rejected"
    )
    click.echo(json.dumps(report.as_json(), ensure_ascii=False))
