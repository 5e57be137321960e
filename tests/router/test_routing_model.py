"""The worker routes with the active model trained on the seed set, and says why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from classifier.registry import ModelRegistry
from models.db import Ticket
from models.types import Channel, IncomingMessage
from router import jobs
from router.intake import Intake
from router.routing import informative
from router.runtime import Runtime
from scripts.cli import main
from tests.conftest import CATALOG, ROOT


@pytest.fixture(scope="module")
def seed_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One training run per module; each test gets a copy of the registry.

    `--test-size 0`: the registered model is the same refit on all seed rows either way; the
    held-back evaluation (a second full fit, half the time) is not what this module tests
    (tests/classifier/test_classifier_train_cli.py and tests/scripts/test_model_cli.py do)."""
    registry = tmp_path_factory.mktemp("registry")
    result = CliRunner().invoke(main, [
        "model", "train", "--data", str(ROOT / "training_data" / "examples"),
        "--extra-col", "channel", "--catalog", str(CATALOG), "--registry", str(registry),
        "--test-size", "0",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return registry


@pytest.fixture
def trained(runtime: Runtime, seed_registry: Path) -> str:
    registry = runtime.settings.registry_dir
    shutil.copytree(seed_registry, registry, dirs_exist_ok=True)
    version = ModelRegistry(registry).active_version()
    assert version, "the first model in a new registry becomes active"
    return version


def route(runtime: Runtime, external_id: str, text: str) -> Ticket:
    message = IncomingMessage(
        channel=Channel.webform,
        external_id=external_id,
        text=text,
        sender_address="e@corp.example.com",
    )
    jobs.process_message(Intake(runtime).accept(message).message_id)
    with runtime.sessions() as session:
        return session.scalars(
            select(Ticket).where(Ticket.number.is_not(None)).order_by(Ticket.id.desc())
        ).first()  # type: ignore[return-value]


def test_obvious_requests_are_routed_with_version_candidates_and_reasons(
    runtime: Runtime, trained: str
) -> None:
    vpn = route(runtime, "vpn", "Не подключается VPN из дома, ошибка 809, срочно нужен доступ")
    assert (vpn.service_code, vpn.team_code, vpn.routing) == ("it_network", "it_desk", "service")
    assert vpn.classifier_version == trained and vpn.confidence and vpn.confidence > 0.9
    assert len(vpn.candidates) == 3 and vpn.candidates[0]["service"] == "it_network"
    assert vpn.reasons and all(isinstance(r, str) for r in vpn.reasons)
    password = route(runtime, "pwd", "I forgot my password and my account is locked")
    assert password.service_code == "access_password" and password.language == "en"


def test_unclear_request_goes_to_triage(runtime: Runtime, trained: str) -> None:
    unclear = route(runtime, "hm", "добрый день, вопрос")
    assert unclear.service_code is None and unclear.routing in ("team", "triage")
    assert unclear.classifier_version == trained and unclear.candidates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("добрый день, вопрос", False),
        ("не работает", False),
        ("Hello, I have a question", False),
        ("впн не работает", True),
        ("2ндфл срочно", True),
        ("printer jams", True),
    ],
)
def test_only_greetings_and_generic_words_are_not_informative(text: str, expected: bool) -> None:
    assert informative(text) is expected
