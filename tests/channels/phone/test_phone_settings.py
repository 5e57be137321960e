"""PhoneSettings from the environment: the IVR map, secrets, the gateway."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from channels.base import ChannelConfig
from channels.phone import build, settings_of
from channels.phone.settings import DEFAULT_IVR_MAP, IvrTarget, load_phone_settings
from models.settings import SettingsError

CATALOG = Path(__file__).resolve().parents[3] / "training_data" / "catalog.yaml"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PHONE_WEBHOOK_SECRET", "PHONE_IVR_MAP", "SMS_GATEWAY_URL", "SMS_GATEWAY_SECRET"):
        monkeypatch.delenv(f"OKNO_{name}", raising=False)


def test_default_ivr_map_has_one_key_per_catalogue_team() -> None:
    teams = [
        t["code"] for t in yaml.safe_load(CATALOG.read_text())["teams"] if t["code"] != "triage"
    ]
    assert [DEFAULT_IVR_MAP[str(k)].team for k in range(1, 9)] == teams
    settings = load_phone_settings()
    assert settings.ivr_target(" 3 ") == IvrTarget(team="it_desk")
    assert settings.webhook_secret is None and settings.sms_gateway_url is None


def test_read_from_the_environment_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKNO_PHONE_WEBHOOK_SECRET", "pbx-webhook-secret-4f1c9a7e")
    monkeypatch.setenv(
        "OKNO_PHONE_IVR_MAP", '{"1": {"service": "hr_certificate"}, "0": {"team": "triage"}}'
    )
    monkeypatch.setenv("OKNO_SMS_GATEWAY_URL", "https://sms.corp.example.com/send")
    monkeypatch.setenv("OKNO_SMS_GATEWAY_SECRET", "sms-gateway-secret-8b2d6e10")
    monkeypatch.setenv("OKNO_SMS_TIMEOUT_S", "2.5")
    spec = build(ChannelConfig(data_dir=Path("var")))
    settings = settings_of(spec)
    assert spec.name == "phone" and callable(spec.send)
    assert settings.webhook_secret == "pbx-webhook-secret-4f1c9a7e"
    first = settings.ivr_target("1")
    assert first is not None and first.hint() == {"service": "hr_certificate"}
    assert settings.ivr_target("3") is None  # a map given replaces the default one
    assert settings.sms_timeout_s == 2.5
    assert "pbx-webhook" not in repr(settings) and "sms-gateway" not in repr(settings)


def test_an_empty_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKNO_PHONE_WEBHOOK_SECRET", "")
    assert load_phone_settings().webhook_secret is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OKNO_PHONE_IVR_MAP", "{not json"),
        ("OKNO_PHONE_IVR_MAP", '{"1": {"service": "hr_certificate", "team": "hr"}}'),
        ("OKNO_PHONE_IVR_MAP", '{"1": {}}'),
        ("OKNO_PHONE_IVR_MAP", '{"1": {"queue": "hr"}}'),
        ("OKNO_PHONE_WEBHOOK_SECRET", "changeme"),
        ("OKNO_SMS_GATEWAY_SECRET", "short"),
        ("OKNO_SMS_GATEWAY_URL", "sms.corp.example.com/send"),
        ("OKNO_SMS_TIMEOUT_S", "0"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_phone_settings()
