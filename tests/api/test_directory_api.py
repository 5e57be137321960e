"""The directory at work: imported people are recognised on the phone and by mail, and shown."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.app import create_app
from channels.email.settings import load_email_settings
from channels.email.smtp_server import make_controller
from router.intake import Intake
from router.runtime import INTAKE_QUEUE, Runtime
from scripts.cli import main
from tests.api.conftest import free_port
from tests.channels.phone.phone_servers import hmac_header
from tests.conftest import drain
from tests.support.workflow import Staff, make_staff

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SECRET = "pbx-webhook-secret-4f1c9a7e"


@pytest.fixture
def imported(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The directory loaded the way an admin does it: `okno directory import`."""
    monkeypatch.setenv("OKNO_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("OKNO_DATABASE_URL", runtime.settings.effective_database_url)
    cli = CliRunner()
    result = cli.invoke(
        main, ["directory", "import", str(FIXTURES / "directory" / "employees_semicolon_bom.csv")]
    )
    assert result.exit_code == 0 and json.loads(result.output.splitlines()[-1])["created"] == 2
    return cli


@pytest.fixture
def client(runtime: Runtime, imported: CliRunner, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("OKNO_PHONE_WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("OKNO_PHONE_IVR_MAP", raising=False)
    return TestClient(create_app(runtime))


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


@pytest.fixture
def smtp_port(runtime: Runtime) -> Iterator[int]:
    port = free_port()
    controller = make_controller(
        Intake(runtime), load_email_settings(), host="127.0.0.1", port=port
    )
    controller.start()
    yield port
    controller.stop()


def ticket_detail(client: TestClient, staff: Staff, message_id: int) -> dict[str, object]:
    drain(runtime_of(client), (INTAKE_QUEUE,))
    status = client.get(f"/api/v1/messages/{message_id}", headers=staff.admin.headers).json()
    number = status["ticket"]
    resp = client.get(f"/api/v1/tickets/{number}", headers=staff.admin.headers)
    assert resp.status_code == 200, resp.text
    detail: dict[str, object] = resp.json()
    return detail


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def mail(port: int, sender: str, subject: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "helpdesk@ssc.example.com", subject
    msg.set_content("Добрый день! Нужна справка 2-НДФЛ за прошлый год.")
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.send_message(msg)


def test_a_call_from_an_imported_employee_shows_their_department(
    client: TestClient, staff: Staff
) -> None:
    call = json.loads((FIXTURES / "phone" / "plain_transcript.json").read_text(encoding="utf-8"))
    body = json.dumps(call, ensure_ascii=False).encode()  # caller: 8 (912) 345-67-89
    resp = client.post(
        "/api/v1/intake/phone",
        content=body,
        headers={"Content-Type": "application/json", "X-Okno-Signature": hmac_header(SECRET, body)},
    )
    assert resp.status_code == 202, resp.text
    detail = ticket_detail(client, staff, resp.json()["message_id"])
    assert detail["requester_verified"] is True
    person = detail["requester_employee"]
    assert isinstance(person, dict)
    assert (person["email"], person["department"], person["branch"]) == (
        "a.petrova@corp.example.com",
        "Бухгалтерия",
        "Казань",
    )
    assert person["manager"] == {"email": "s.volkov@corp.example.com", "name": "Сергей Волков"}


def test_mail_is_matched_until_the_employee_is_deactivated(
    client: TestClient, staff: Staff, imported: CliRunner, runtime: Runtime, smtp_port: int
) -> None:
    mail(smtp_port, "Сергей Волков <S.Volkov@corp.example.com>", "Справка 2-НДФЛ")
    drain(runtime, (INTAKE_QUEUE,))
    (first,) = client.get("/api/v1/tickets", headers=staff.admin.headers).json()
    detail = client.get(f"/api/v1/tickets/{first['number']}", headers=staff.admin.headers).json()
    assert detail["requester_employee"]["department"] == "Финансы"

    comma = FIXTURES / "directory" / "employees_comma.csv"  # lists no Volkov
    result = imported.invoke(main, ["directory", "import", str(comma), "--deactivate-missing"])
    assert json.loads(result.output.splitlines()[-1])["deactivated"] == 1
    mail(smtp_port, "s.volkov@corp.example.com", "Ещё одна справка")
    drain(runtime, (INTAKE_QUEUE,))
    tickets = client.get("/api/v1/tickets", headers=staff.admin.headers).json()
    second = next(t for t in tickets if t["number"] != first["number"])
    later = client.get(f"/api/v1/tickets/{second['number']}", headers=staff.admin.headers).json()
    assert later["requester_employee"] is None and later["requester_verified"] is False
    assert "unverified requester" in later["notes"]
    # The history stays: the first ticket still shows him, now inactive.
    again = client.get(f"/api/v1/tickets/{first['number']}", headers=staff.admin.headers).json()
    assert again["requester_employee"]["active"] is False


def test_employees_search_is_for_leads_and_admins(client: TestClient, staff: Staff) -> None:
    found = client.get(
        "/api/v1/employees", params={"query": "CORP казань"}, headers=staff.lead.headers
    )
    assert found.status_code == 200, found.text
    assert [p["email"] for p in found.json()] == ["a.petrova@corp.example.com"]
    one = client.get("/api/v1/employees/S.Volkov@corp.example.com", headers=staff.admin.headers)
    assert one.status_code == 200 and one.json()["phone"] == "+74959876543"
    missing = client.get("/api/v1/employees/nobody@corp.example.com", headers=staff.admin.headers)
    assert missing.status_code == 404
    denied = client.get("/api/v1/employees", headers=staff.hr.headers)
    assert denied.status_code == 403
    assert client.get("/api/v1/employees", headers=staff.analyst.headers).status_code == 403
