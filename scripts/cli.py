"""The one entry point: `okno <command>`; each command's module is imported only when it runs."""

from __future__ import annotations

import click

from scripts.lazy import LazyGroup

# name → ("module:attribute", one-line help shown by `okno --help` without importing the module)
COMMANDS = {
    "run": ("scripts.services:run", "Everything in one command with the embedded defaults."),
    "api": ("scripts.services:api", "Serve the HTTP API and the portal alone."),
    "worker": ("scripts.services:worker", "Run an RQ worker (and the sweeper)."),
    "smtp": ("scripts.email_cli:smtp", "Run the inbound SMTP server."),
    "imap": ("scripts.email_cli:imap", "Poll the configured IMAP mailboxes."),
    "telegram": ("scripts.telegram_cli:telegram", "Run the Telegram bot."),
    "email": ("scripts.email_cli:email", "E-mail tools (parse)."),
    "db": ("scripts.admin_cli:db", "Database schema."),
    "catalog": ("scripts.admin_cli:catalog", "The service catalogue."),
    "user": ("scripts.user_cli:user", "Specialists and their API tokens."),
    "model": ("scripts.model_cli:model", "Train, evaluate and manage classifier models."),
    "report": ("scripts.report_cli:report", "Service statistics."),
    "bench": ("scripts.bench:bench", "Benchmarks (printed and written under bench/)."),
    "directory": ("scripts.directory_cli:directory", "The employee directory (CSV, LDAP)."),
    "webhook": ("scripts.webhook_cli:webhook", "Outbound webhooks (add, list, remove, …)."),
    "sla": ("scripts.sla_cli:sla", "SLA calendars and clocks (sla due)."),
    "process": ("scripts.process_cli:process", "Start a cross-department process (onboarding, …)."),
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
@click.version_option("0.1.0", prog_name="okno")
def main() -> None:
    """Okno: the single window of the shared service centre."""


if __name__ == "__main__":
    main()
