"""Phone channel settings (env prefix OKNO_), read once when the channel is built."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.settings import read_settings

# A shared secret shorter than this is a placeholder, not a secret.
MIN_SECRET_LENGTH = 16


class IvrTarget(BaseModel):
    """Where one IVR menu key points: a catalogue service or a team (exactly one of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str | None = Field(default=None, min_length=1, max_length=64)
    team: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _exactly_one(self) -> IvrTarget:
        if (self.service is None) == (self.team is None):
            raise ValueError('each IVR key maps to {"service": code} or {"team": code}')
        return self

    def hint(self) -> dict[str, str]:
        """The routing hint the router understands: {"service": code} or {"team": code}."""
        return {"service": self.service} if self.service else {"team": str(self.team)}


# The SSC's voice menu: one key per team of training_data/catalog.yaml (0 = operator, no hint).
DEFAULT_IVR_MAP: dict[str, IvrTarget] = {
    "1": IvrTarget(team="hr"),
    "2": IvrTarget(team="payroll"),
    "3": IvrTarget(team="it_desk"),
    "4": IvrTarget(team="it_access"),
    "5": IvrTarget(team="facilities"),
    "6": IvrTarget(team="legal"),
    "7": IvrTarget(team="procurement"),
    "8": IvrTarget(team="security"),
}


class PhoneSettings(BaseSettings):
    # An empty variable means "not set", so `OKNO_PHONE_WEBHOOK_SECRET=` never becomes a secret.
    model_config = SettingsConfigDict(env_prefix="OKNO_", extra="ignore", env_ignore_empty=True)

    phone_webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC key of X-Okno-Signature on the PBX webhook; unset → 503."
    )
    phone_ivr_map: dict[str, IvrTarget] = Field(
        default_factory=lambda: dict(DEFAULT_IVR_MAP),
        description='JSON: IVR key → {"service": code} or {"team": code}.',
    )
    sms_gateway_url: str | None = Field(default=None, description="Where SMS are POSTed.")
    sms_gateway_secret: SecretStr | None = Field(
        default=None, description="HMAC key of X-Okno-Signature on requests to the SMS gateway."
    )
    sms_timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("phone_webhook_secret", "sms_gateway_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value

    @field_validator("sms_gateway_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _gateway_needs_secret(self) -> PhoneSettings:
        # Without the key every SMS would fail "not configured", seen only in the database.
        if self.sms_gateway_url and self.sms_gateway_secret is None:
            raise ValueError(
                "OKNO_SMS_GATEWAY_URL is set without OKNO_SMS_GATEWAY_SECRET: "
                "set both (the secret signs every request to the gateway) or neither"
            )
        return self

    @field_validator("phone_ivr_map")
    @classmethod
    def _stripped_keys(cls, value: dict[str, IvrTarget]) -> dict[str, IvrTarget]:
        return {key.strip(): target for key, target in value.items()}

    @property
    def webhook_secret(self) -> str | None:
        return self.phone_webhook_secret.get_secret_value() if self.phone_webhook_secret else None

    @property
    def gateway_secret(self) -> str | None:
        return self.sms_gateway_secret.get_secret_value() if self.sms_gateway_secret else None

    def ivr_target(self, choice: str | None) -> IvrTarget | None:
        return self.phone_ivr_map.get(choice.strip()) if choice else None


def load_phone_settings(**overrides: object) -> PhoneSettings:
    """Read and validate once; a bad value raises SettingsError naming the variable."""
    return read_settings(PhoneSettings, **overrides)
