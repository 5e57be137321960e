"""Building blocks the CLI commands share: settings, runtime, the intake function."""

from __future__ import annotations

import logging

import click

from models.settings import Settings, SettingsError, load_settings
from router.intake import Intake
from router.runtime import Runtime, build_runtime, use_runtime

__all__ = ["Runtime", "build_runtime", "cli_settings", "cli_runtime", "Intake", "setup_logging"]


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def cli_settings() -> Settings:
    """Settings for a command; a bad value is a one-line error and exit code 2."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    setup_logging(settings.log_level)
    return settings


def cli_runtime(settings: Settings | None = None) -> Runtime:
    runtime = build_runtime(settings or cli_settings())
    use_runtime(runtime)
    return runtime
