"""Telegram fixtures: the Bot API stand-in, the channel pointed at it, real Update JSON."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from api.app import create_app
from channels.telegram.client import open_bot
from channels.telegram.gateway import Gateway
from channels.telegram.polling import Poller
from channels.telegram.settings import TelegramSettings, load_telegram_settings
from models.db import Employee, session_scope
from router.intake import Intake
from router.requesters import RequesterViews
from router.runtime import Runtime
from tests.channels.telegram.botapi_standin import TOKEN, BotApiStandin
from tests.conftest import ROOT, drain

FIXTURES = ROOT / "tests" / "fixtures" / "telegram"
SECRET = "okno-webhook-secret_1"
ANNA_CHAT = 111111111
JOHN_CHAT = 222222222


def update(name: str) -> dict[str, Any]:
    """A recorded Update as Telegram sends it."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def reply_to(data: dict[str, Any], message_id: int) -> dict[str, Any]:
    """The same update, replying to the bot message the stand-in numbered `message_id`."""
    data = copy.deepcopy(data)
    data["message"]["reply_to_message"]["message_id"] = message_id
    return data


def pressed(data: dict[str, Any], callback_data: str, message_id: int) -> dict[str, Any]:
    """A button press on the bot message `message_id` carrying `callback_data`."""
    data = copy.deepcopy(data)
    data["callback_query"]["data"] = callback_data
    data["callback_query"]["message"]["message_id"] = message_id
    return data


def with_text(data: dict[str, Any], text: str, update_id: int | None = None) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data["message"]["text"] = text
    if update_id is not None:
        data["update_id"] = update_id
    return data


@pytest.fixture
def standin() -> Iterator[BotApiStandin]:
    server = BotApiStandin()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tg_settings(
    standin: BotApiStandin, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TelegramSettings]:
    """The channel as an operator configures it (env), pointed at the stand-in."""
    monkeypatch.setenv("OKNO_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("OKNO_TELEGRAM_API_URL", standin.base_url)
    monkeypatch.setenv("OKNO_TELEGRAM_MAX_FILE_BYTES", str(20 * 1024 * 1024))
    yield load_telegram_settings()


@pytest.fixture
def gateway(runtime: Runtime, tg_settings: TelegramSettings) -> Gateway:
    return Gateway(
        tg_settings,
        accept=Intake(runtime),
        views=RequesterViews(runtime.sessions),
        sessions=runtime.sessions,
        data_dir=runtime.settings.data_dir,
        timezone=runtime.settings.default_timezone,
    )


class Bot:
    """Drives the bot the way production does: updates polled from the stand-in, jobs drained."""

    def __init__(self, runtime: Runtime, gateway: Gateway, standin: BotApiStandin) -> None:
        self.runtime, self.gateway, self.standin = runtime, gateway, standin
        self.poller = Poller(gateway)

    def receive(self, *updates: dict[str, Any], work: bool = True) -> int:
        """Telegram gets the updates; one getUpdates round takes them; the worker runs."""
        for item in updates:
            self.standin.queue_update(item)
        taken = asyncio.run(self._poll())
        if work:
            drain(self.runtime)
        return taken

    async def _poll(self) -> int:
        async with open_bot(self.gateway.settings) as bot:
            return await self.poller.poll_once(bot)


@pytest.fixture
def bot(runtime: Runtime, gateway: Gateway, standin: BotApiStandin) -> Bot:
    return Bot(runtime, gateway, standin)


@pytest.fixture
def anna(runtime: Runtime) -> int:
    """An employee in the directory, phone in E.164."""
    with session_scope(runtime.sessions) as session:
        person = Employee(
            name="Анна Петрова",
            email="a.petrova@corp.example.com",
            phone="+79161234567",
            department="Продажи",
            timezone="Europe/Moscow",
            language="ru",
        )
        session.add(person)
        session.flush()
        return person.id


@pytest.fixture
def webhook_client(
    runtime: Runtime, tg_settings: TelegramSettings, monkeypatch: pytest.MonkeyPatch
) -> TestClient:
    monkeypatch.setenv("OKNO_TELEGRAM_WEBHOOK_SECRET", SECRET)
    return TestClient(create_app(runtime))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Mailbox:
    """A local SMTP relay that keeps what it is given (the e-mail channel sends through it)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.SMTP))
        return "250 OK"


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("OKNO_SMTP_RELAY_HOST", "127.0.0.1")
    monkeypatch.setenv("OKNO_SMTP_RELAY_PORT", str(port))
    yield box
    controller.stop()


def attachment_path(runtime: Runtime, key: str) -> Path:
    return runtime.settings.data_dir / "attachments" / key


SERVICES = (
    "it_hardware",
    "it_network",
    "access_password",
    "hr_certificate",
    "hr_vacation",
    "fac_parking",
    "fac_repair",
    "legal_contract_review",
)


@pytest.fixture(scope="session")
def trained() -> Any:
    """A small classifier trained once, through the classifier's own API, on seed examples.

    fit_model is the fit train_and_evaluate registers (on all rows); its held-back
    evaluation, a second fit nobody here reads, is left out."""
    from classifier.catalog import load_catalog
    from classifier.dataset import read_csv_data
    from classifier.training import TrainConfig, fit_model

    data = read_csv_data([ROOT / "training_data" / "examples"])
    keep = [i for i, label in enumerate(data.labels) if label in SERVICES]
    catalog = load_catalog(ROOT / "training_data" / "catalog.yaml")
    model, _info, _validation = fit_model(data.subset(keep), catalog.service_team, TrainConfig())
    return model


@pytest.fixture
def model(runtime: Runtime, trained: Any) -> str:
    """The trained model registered and promoted in this runtime's registry: the worker uses it."""
    from classifier.registry import ModelRegistry

    registry = ModelRegistry(runtime.settings.registry_dir)
    registry.path.mkdir(parents=True, exist_ok=True)
    version = registry.register(copy.deepcopy(trained), {"note": "telegram tests"})
    registry.promote(version)
    return version
