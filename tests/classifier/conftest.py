"""Tiny synthetic bilingual requests for four catalogue services, and models trained on them."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest

from classifier.catalog import CatalogInfo, load_catalog
from classifier.dataset import read_csv_data
from classifier.model import OknoModel
from classifier.training import TrainConfig, fit_model

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "training_data" / "catalog.yaml"

TEMPLATES = {
    "access_password": [
        "забыл пароль {a}",
        "учётная запись заблокирована {a}",
        "сбросьте пароль {a} пожалуйста",
        "forgot my password {a}",
        "account locked {a}, please reset the password",
    ],
    "it_network": [
        "не работает vpn {b}",
        "нет интернета {b}",
        "wi-fi не подключается {b}",
        "VPN will not connect {b}",
        "no internet connection {b}",
    ],
    "hr_vacation": [
        "хочу оформить отпуск {c}",
        "перенести отпуск {c}",
        "please book my vacation {c}",
        "сколько дней отпуска осталось {c}",
        "cancel my annual leave {c}",
    ],
    "fac_meeting_room": [
        "забронировать переговорную {c}",
        "нужна переговорная комната {c}",
        "book a meeting room {c}",
        "reserve the big meeting room {c}",
        "переговорка для встречи {c}",
    ],
}
FILL = {
    "a": ["в домене", "в 1С", "от почты", "в SAP", "ivan.petrov@corp.example"],
    "b": ["дома", "в офисе", "at home", "в филиале", "since 10:30"],
    "c": ["с 1 июля", "на пятницу", "next week", "в августе", "on 12.08"],
}


def synthetic_rows(per_service: int = 12) -> list[dict[str, str]]:
    rows = []
    for service, templates in TEMPLATES.items():
        combos = itertools.cycle(itertools.product(templates, range(5)))
        for i in range(per_service):
            template, k = next(combos)
            text = template.format(a=FILL["a"][k], b=FILL["b"][k], c=FILL["c"][k])
            lang = "ru" if any("а" <= ch <= "я" for ch in text.lower()) else "en"
            channel = ("email", "telegram", "webform")[i % 3]
            rows.append(
                {
                    "text": text,
                    "service": service,
                    "language": lang,
                    "channel": channel,
                    "department": "Sales" if i % 2 else "",
                }  # fmt: skip
            )
    return rows


def write_csv(
    path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] | None = None
) -> Path:
    columns = columns or ("text", "service", "language", "channel", "department")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def catalog() -> CatalogInfo:
    return load_catalog(CATALOG)


@pytest.fixture(scope="session")
def seed_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("seed") / "seed.csv", synthetic_rows())


@pytest.fixture(scope="session")
def trained(seed_csv: Path, catalog: CatalogInfo) -> OknoModel:
    data = read_csv_data([seed_csv], extra_cols=["channel"])
    model, _info, _validation = fit_model(data, catalog.service_team, TrainConfig())
    model.version = "test-version"
    return model


@pytest.fixture(autouse=True)
def _own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The live catalogue the model commands check against is this test's: no database yet,
    so the configured catalogue file (the seed catalogue)."""
    monkeypatch.setenv("OKNO_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("OKNO_DATABASE_URL", raising=False)
    monkeypatch.setenv("OKNO_CATALOG_FILE", str(CATALOG))
