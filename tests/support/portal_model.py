"""A small model (a few seconds to train) registered and active, for the portal's suggestions."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

from classifier.catalog import load_catalog
from classifier.dataset import Dataset
from classifier.registry import ModelRegistry
from classifier.training import TrainConfig, fit_model
from tests.conftest import CATALOG

PHRASES = {
    "it_network": [
        "не работает vpn {x}",
        "нет интернета {x}",
        "wi-fi не подключается {x}",
        "VPN will not connect {x}",
        "no internet connection {x}",
        "сеть пропала, не открываются сайты {x}",
    ],
    "access_password": [
        "забыл пароль {x}",
        "учётная запись заблокирована {x}",
        "сбросьте пароль {x}",
        "forgot my password {x}",
        "account locked {x}, reset the password",
        "не могу войти, пароль не подходит {x}",
    ],
    "it_hardware": [
        "не включается ноутбук {x}",
        "сломался монитор {x}",
        "принтер не печатает {x}",
        "laptop does not turn on {x}",
        "broken keyboard {x}",
        "ноутбук не работает, не подключается к зарядке {x}",
    ],
    "hr_vacation": [
        "хочу оформить отпуск {x}",
        "перенести отпуск {x}",
        "please book my vacation {x}",
        "сколько дней отпуска осталось {x}",
        "cancel my annual leave {x}",
        "отпуск без сохранения {x}",
    ],
    "fac_meeting_room": [
        "забронировать переговорную {x}",
        "нужна переговорная комната {x}",
        "book a meeting room {x}",
        "reserve the big meeting room {x}",
        "переговорка для встречи {x}",
        "переговорная не работает проектор {x}",
    ],
}
FILL = ["дома", "в офисе", "at home", "в филиале", "since 10:30", "срочно", "today"]


def tiny_dataset() -> Dataset:
    data = Dataset()
    for service, phrases in PHRASES.items():
        for phrase, fill in itertools.product(phrases, FILL[:3]):
            data.texts.append(phrase.format(x=fill))
            data.labels.append(service)
            data.extras.append({})
            data.sources.append("portal-test")
    return data


def train_into(registry_dir: Path) -> str:
    """Train, register and promote the small model; returns its version."""
    catalog = load_catalog(CATALOG)
    model, info, _validation = fit_model(tiny_dataset(), catalog.service_team, TrainConfig())
    registry = ModelRegistry(registry_dir)
    registry_dir.mkdir(parents=True, exist_ok=True)
    version = registry.register(model, {"info": info})
    registry.promote(version)
    return version


def copy_registry(source: Path, target: Path) -> str:
    shutil.copytree(source, target, dirs_exist_ok=True)
    version = ModelRegistry(target).active_version()
    assert version
    return version
