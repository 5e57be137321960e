"""Issue 19: a model whose services the live catalogue lacks never breaks intake."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from classifier.registry import ModelRegistry
from models.db import Service, Ticket, TicketEvent
from models.types import Channel, IncomingMessage
from router import jobs
from router.intake import Intake
from router.runtime import Runtime
from scripts.model_cli import model
from tests.classifier.conftest import synthetic_rows, write_csv

FOREIGN = {"access_password": "card_arrival", "it_network": "top_up_failed",
           "hr_vacation": "exchange_rate", "fac_meeting_room": "atm_support"}  # fmt: skip


def _train(registry: Path, data: Path, *extra: str) -> str:
    result = CliRunner().invoke(model, [
        "train", "--data", str(data), "--registry", str(registry), "--encoder", "off",
        "--test-size", "0", *extra,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout.split()[0]


def test_a_worker_meeting_a_foreign_model_routes_to_triage_with_an_error(
    runtime: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [{**r, "service": FOREIGN[r["service"]]} for r in synthetic_rows()]
    registry = runtime.settings.registry_dir
    version = _train(registry, write_csv(tmp_path / "f.csv", rows), "--catalog", "none")
    (registry / "ACTIVE").write_text(version + "\n")  # promoted by hand, as before the check
    message = IncomingMessage(channel=Channel.webform, external_id="x1",
                              text="забыл пароль от почты", sender_address="e@corp.example.com")  # fmt: skip
    with caplog.at_level(logging.ERROR, logger="router.routing"):
        jobs.process_message(Intake(runtime).accept(message).message_id)
    with runtime.sessions() as session:
        ticket = session.scalars(select(Ticket)).one()
    assert (ticket.service_code, ticket.team_code, ticket.routing) == (None, "triage", "triage")
    assert ticket.predicted_service_code == "card_arrival"
    assert any("not an active service" in n and "card_arrival" in n for n in ticket.notes)
    assert any("card_arrival" in r.getMessage() for r in caplog.records)
    with runtime.sessions() as session:
        errors = session.scalars(select(TicketEvent).where(TicketEvent.kind == "error")).all()
    assert [(e.to_value, "card_arrival" in e.data["detail"]) for e in errors] == [
        ("classifier", True)
    ]


def test_promote_checks_the_services_active_in_the_database(
    runtime: Runtime, seed_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKNO_DATABASE_URL", runtime.settings.effective_database_url)
    registry = runtime.settings.registry_dir
    first = _train(registry, seed_csv)  # the first model of a new registry becomes active
    assert ModelRegistry(registry).active_version() == first
    with runtime.sessions() as session:
        session.execute(update(Service).where(Service.code == "hr_vacation").values(active=False))
        session.commit()
    second = _train(registry, seed_csv)
    result = CliRunner().invoke(model, ["promote", second, "--registry", str(registry)])
    assert result.exit_code == 1
    assert "hr_vacation" in result.output and "active services in the database" in result.output
    assert ModelRegistry(registry).active_version() == first
