"""Telegram channel settings (env prefix OKNO_), read once at build and passed in."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.settings import SettingsError, read_settings

MB = 1024 * 1024
TELEGRAM_API = "https://api.telegram.org"
# Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - in the webhook secret header.
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
TOKEN_PATTERN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")


class TelegramSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OKNO_", extra="ignore")

    telegram_token: SecretStr | None = Field(default=None, description="Unset: the bot is off.")
    telegram_api_url: str = Field(default=TELEGRAM_API, description="Bot API base URL.")
    telegram_webhook_secret: SecretStr | None = Field(
        default=None, description="Set: updates arrive at POST /api/v1/intake/telegram."
    )
    telegram_max_file_bytes: int = Field(default=20 * MB, ge=0)
    telegram_poll_timeout: int = Field(default=25, ge=0, le=50)
    # A 429 asking to wait longer than this is left to RQ's retry schedule instead of a sleep.
    telegram_max_retry_sleep: float = Field(default=30.0, ge=0)
    telegram_request_timeout: float = Field(default=30.0, gt=0)

    @field_validator("telegram_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not TOKEN_PATTERN.match(value.get_secret_value()):
            raise ValueError("must look like 123456:ABC-token (from @BotFather)")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not SECRET_PATTERN.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def enabled(self) -> bool:
        return self.telegram_token is not None

    @property
    def token(self) -> str:
        if self.telegram_token is None:
            raise SettingsError("OKNO_TELEGRAM_TOKEN is not set: the Telegram bot is off")
        return self.telegram_token.get_secret_value()

    @property
    def webhook_secret(self) -> str | None:
        secret = self.telegram_webhook_secret
        return secret.get_secret_value() if secret else None

    @property
    def webhook_mode(self) -> bool:
        """Updates come by webhook; long polling must then stay off (Telegram allows one)."""
        return self.enabled and self.webhook_secret is not None

    @property
    def polling_mode(self) -> bool:
        return self.enabled and self.webhook_secret is None

    @property
    def state_key(self) -> str:
        """ChannelState key of the polling offset: one per bot (the token's numeric id)."""
        return f"telegram:offset:{self.token.split(':', 1)[0]}"


def load_telegram_settings(**overrides: object) -> TelegramSettings:
    """Read and validate once; a bad value raises SettingsError naming the variable."""
    return read_settings(TelegramSettings, **overrides)
