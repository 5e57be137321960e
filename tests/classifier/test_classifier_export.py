"""Examples from tickets (--from-db) and `okno model export` against a real database."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from classifier.dataset import examples_from_db
from classifier.export import write_examples
from models.db import Employee, Ticket, TicketMessage, make_engine, session_scope
from models.migrate import upgrade
from router.catalog import load_catalog
from scripts.model_cli import model
from tests.classifier.conftest import CATALOG, synthetic_rows, write_csv


def _ticket(
    session: Session, number: str, service: str, status: str, body: str, **kw: object
) -> Ticket:
    ticket = Ticket(
        number=number, subject=kw.pop("subject", ""), service_code=service, team_code="it_access",
        status=status, origin_channel="email", language="ru", **kw,
    )  # fmt: skip
    ticket.messages = [
        TicketMessage(direction="inbound", body=body),
        TicketMessage(direction="outbound", body="Ответ специалиста: пароль сброшен"),
    ]
    session.add(ticket)
    session.flush()
    return ticket


@pytest.fixture
def db_url(database_url: str) -> str:
    upgrade(database_url)
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        load_catalog(CATALOG, session=session)
        clerk = Employee(name="Иван", email="ivan@corp.example", department="Sales")
        session.add(clerk)
        session.flush()
        _ticket(session, "T-1", "access_password", "resolved",
                "Забыл пароль, мой телефон +7 (999) 123-45-67, почта ivan.petrov@corp.example",
                subject="Пароль", requester_id=clerk.id)  # fmt: skip
        _ticket(session, "T-2", "it_network", "in_progress", "Не работает VPN дома",
                predicted_service_code="access_password")  # fmt: skip
        _ticket(session, "T-3", "it_network", "in_progress", "Нет интернета в офисе",
                predicted_service_code="it_network")  # fmt: skip
        _ticket(session, "T-4", "hr_complaint", "closed", "Жалоба на руководителя")
        parent = _ticket(session, "T-5", "hr_onboarding", "closed", "Выходит новый сотрудник")
        _ticket(session, "T-6", "access_account", "resolved", "Создать учётные записи",
                parent_id=parent.id)  # fmt: skip
        _ticket(
            session,
            "T-7",
            "access_password",
            "closed",
            "Карта 4276 3800 1234 5678, сбросьте пароль",
        )
    engine.dispose()
    return database_url


def test_examples_from_db(db_url: str) -> None:
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        rows = examples_from_db(session=session)
        later = examples_from_db(session=session, since=datetime(2100, 1, 1, tzinfo=UTC))
    engine.dispose()
    by_number = {str(r["number"]): r for r in rows}
    # resolved/closed, plus a reassigned open ticket; no excluded service, no sub-ticket.
    assert sorted(by_number) == ["T-1", "T-2", "T-5", "T-7"]
    assert by_number["T-2"]["service"] == "it_network"  # the specialist's correction wins
    first = str(by_number["T-1"]["text"])
    assert first.startswith("Пароль\nЗабыл пароль")
    assert "Ответ специалиста" not in first
    assert by_number["T-1"]["department"] == "Sales"
    assert later == []


def test_export_masks_and_leaves_out(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKNO_DATABASE_URL", db_url)
    out = tmp_path / "export.csv"
    result = CliRunner().invoke(model, ["export", "--out", str(out), "--catalog", str(CATALOG)])
    assert result.exit_code == 0, result.output
    assert "exported 4 examples" in result.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["text", "service", "language", "channel", "department"]
    text = "\n".join(r["text"] for r in rows)
    assert "<PHONE>" in text and "<EMAIL>" in text and "<CARD>" in text
    assert "123-45-67" not in text and "ivan.petrov" not in text and "4276" not in text
    assert "hr_complaint" not in {r["service"] for r in rows}


def test_train_from_db_adds_corrected_labels(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKNO_DATABASE_URL", db_url)
    registry = tmp_path / "models"
    registry.mkdir()
    seed = write_csv(tmp_path / "seed.csv", synthetic_rows())
    args = ["train", "--data", str(seed), "--from-db", "--registry", str(registry),
            "--catalog", str(CATALOG), "--extra-col", "channel"]  # fmt: skip
    result = CliRunner().invoke(model, args)
    assert result.exit_code == 0, result.output
    version = result.stdout.split()[0]
    meta = json.loads((registry / "versions" / version / "metadata.json").read_text())
    assert "left out tickets of services with too few examples: hr_onboarding" in result.stderr
    # T-2's text equals a seed row ("не работает vpn дома"): it relabels that row, adds none.
    assert meta["training_data"]["rows"] == 48 + 2
    assert "tickets (3 rows)" in meta["training_data"]["description"]


def test_write_examples_is_atomic_and_masks(tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    rows = [{"text": "mail me: a.b@c.example", "service": "it_email", "channel": "email"}]
    assert write_examples(rows, out) == 1
    assert "<EMAIL>" in out.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]


def test_export_from_a_database_without_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKNO_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    out = tmp_path / "export.csv"
    result = CliRunner().invoke(model, ["export", "--out", str(out), "--catalog", str(CATALOG)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot read tickets from the database: no such table")
    assert not out.exists()
