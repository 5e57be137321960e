"""The new-request page's public helpers: catalogue, search, suggestions, uploads, the form."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from models.db import Base, Service, TicketMessage
from models.knowledge import KnowledgeArticle
from router.runtime import Runtime
from router.users import create_user
from tests.conftest import drain
from tests.support.portal_model import copy_registry, train_into

FORM = {
    "name": "Анна Петрова",
    "email": "a.petrova@corp.example.com",
    "text": "Не включается ноутбук, скриншот ошибки приложила.",
    "submission_id": "portal-1",
    "language": "ru",
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture(scope="module")
def small_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small model per module; each test that needs it gets a copy of the registry."""
    registry = tmp_path_factory.mktemp("registry")
    train_into(registry)
    return registry


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


@pytest.fixture
def trained(runtime: Runtime, small_registry: Path) -> str:
    return copy_registry(small_registry, runtime.settings.registry_dir)


def row_counts(runtime: Runtime) -> dict[str, int]:
    with runtime.sessions() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


# --- catalogue and search ------------------------------------------------------------------


def test_the_catalogue_lists_active_services_by_team_with_descriptions(
    client: TestClient, runtime: Runtime
) -> None:
    with runtime.sessions() as session:
        session.scalars(select(Service).where(Service.code == "hr_vacation")).one().active = False
        session.commit()
    teams = client.get("/api/v1/catalogue").json()["teams"]
    by_code = {t["code"]: t for t in teams}
    assert by_code["hr"]["name_en"] == "HR administration"
    services = {s["code"]: s for t in teams for s in t["services"]}
    assert "hr_vacation" not in services  # inactive: gone from the portal
    certificate = services["hr_certificate"]
    assert certificate["description_ru"] and certificate["description_en"]
    assert set(certificate) == {
        "code",
        "team",
        "name_ru",
        "name_en",
        "description_ru",
        "description_en",
        "resolution_hours",
    }  # public fields only: nothing of training, processes or priorities
    assert all(s["description_ru"] and s["description_en"] for s in services.values())
    assert "triage" not in by_code  # a team without services is no category


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("отпуск", "hr_vacation"),
        ("ОТПУСКА", "hr_vacation"),  # any case, any word form
        ("Vacation", "hr_vacation"),
        ("vacaton", "hr_vacation"),  # a typo
        ("jngecr", "hr_vacation"),  # "отпуск" in the English layout
        ("переговор", "fac_meeting_room"),  # still typing
        ("meeting room", "fac_meeting_room"),
        ("pasword", "access_password"),
        ("vpn", "it_network"),
        ("договор", "legal_contract_review"),
    ],
)
def test_search_finds_services_in_either_language(
    client: TestClient, query: str, expected: str
) -> None:
    found = client.get("/api/v1/catalogue/search", params={"q": query}).json()
    assert found["services"][0]["code"] == expected, found


def test_search_by_description_and_nothing_for_nonsense(client: TestClient) -> None:
    found = client.get("/api/v1/catalogue/search", params={"q": "больничный"}).json()
    assert found["services"][0]["code"] == "hr_sick_leave"
    assert client.get("/api/v1/catalogue/search", params={"q": "zzqx"}).json()["services"] == []
    assert client.get("/api/v1/catalogue/search", params={"q": "  "}).json()["services"] == []


# --- suggestions ---------------------------------------------------------------------------


def test_candidates_are_the_models_top_three_and_write_nothing(
    client: TestClient, runtime: Runtime, trained: str
) -> None:
    before = row_counts(runtime)
    resp = client.post(
        "/api/v1/intake/candidates", json={"text": "Не работает VPN из дома", "language": "ru"}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model_version"] == trained and body["reason"] is None
    candidates = body["candidates"]
    assert len(candidates) == 3
    assert candidates[0]["service"] == "it_network"
    assert candidates[0]["name"] == "Сеть, Wi-Fi и VPN"  # in the language asked
    assert candidates[0]["team"] == "it_desk"
    scores = [c["score"] for c in candidates]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    english = client.post("/api/v1/intake/candidates", json={"text": "forgot my password"})
    assert english.json()["candidates"][0]["service"] == "access_password"
    assert english.json()["candidates"][0]["name"] == "Password reset and unlock"  # read from text
    assert row_counts(runtime) == before  # nothing stored: no message, ticket or event
    assert not runtime.queue("intake").count


def test_candidates_skip_inactive_services(
    client: TestClient, runtime: Runtime, trained: str
) -> None:
    with runtime.sessions() as session:
        session.scalars(select(Service).where(Service.code == "it_network")).one().active = False
        session.commit()
    body = client.post("/api/v1/intake/candidates", json={"text": "не работает vpn"}).json()
    codes = [c["service"] for c in body["candidates"]]
    assert "it_network" not in codes and len(codes) == 3


def test_without_a_model_the_answer_is_empty_with_a_reason(client: TestClient) -> None:
    resp = client.post("/api/v1/intake/candidates", json={"text": "не работает vpn"})
    assert resp.status_code == 200
    assert resp.json() == {"candidates": [], "reason": "no_model", "model_version": None}


def test_too_little_text_gets_no_guess(client: TestClient, trained: str) -> None:
    for text in ("vp", "Добрый день, не работает"):  # nothing named yet, as the worker sees it
        body = client.post("/api/v1/intake/candidates", json={"text": text}).json()
        assert body["candidates"] == [] and body["reason"] == "too_short", text


def test_a_broken_active_model_is_no_server_error(
    client: TestClient, runtime: Runtime, trained: str
) -> None:
    model_file = runtime.settings.registry_dir / "versions" / trained / "model.joblib"
    model_file.write_bytes(b"not a model")
    resp = client.post("/api/v1/intake/candidates", json={"text": "не работает vpn"})
    assert resp.status_code == 200
    assert resp.json() == {"candidates": [], "reason": "model_unavailable", "model_version": None}


def test_candidates_are_rate_limited_per_client(client: TestClient, runtime: Runtime) -> None:
    runtime.settings.rate_limit_candidates_per_client = 2
    for _ in range(2):
        assert client.post("/api/v1/intake/candidates", json={"text": "vpn"}).status_code == 200
    refused = client.post("/api/v1/intake/candidates", json={"text": "vpn"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"] == "rate_limited"


# --- knowledge-base articles ---------------------------------------------------------------


def test_the_portal_sees_only_public_articles_of_active_services(
    client: TestClient, runtime: Runtime
) -> None:
    with runtime.sessions() as session:
        for title, public in (("Как получить справку", True), ("Шаблон ответа", False)):
            session.add(
                KnowledgeArticle(
                    service_code="hr_certificate",
                    language="ru",
                    title=title,
                    body="…",
                    public=public,
                    author="lead@ssc.example.com",
                )
            )
        session.commit()
    titles = [a["title"] for a in client.get("/api/v1/services/hr_certificate/articles").json()]
    assert titles == ["Как получить справку"]
    with runtime.sessions() as session:
        session.scalars(
            select(Service).where(Service.code == "hr_certificate")
        ).one().active = False
        session.commit()
    assert client.get("/api/v1/services/hr_certificate/articles").json() == []


# --- attachments and the form --------------------------------------------------------------


def upload(client: TestClient, name: str, data: bytes, kind: str) -> dict:  # type: ignore[type-arg]
    resp = client.post("/api/v1/intake/uploads", files={"file": (name, data, kind)})
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_files_uploaded_then_sent_with_the_form_reach_the_ticket(
    client: TestClient, runtime: Runtime
) -> None:
    shot = upload(client, "ошибка.png", PNG, "image/png")
    assert (shot["name"], shot["content_type"], shot["size"]) == ("ошибка.png", "image/png", 72)
    doc = upload(client, "C:\\Users\\anna\\акт.pdf", b"%PDF-1.4 test", "application/octet-stream")
    assert (doc["name"], doc["content_type"]) == ("акт.pdf", "application/pdf")
    resp = client.post(
        "/api/v1/intake/webform", json={**FORM, "attachments": [shot["id"], doc["id"]]}
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    key = body["status_url"].split("key=")[1]
    assert body["status_page_url"] == f"http://testserver/?m={body['message_id']}&key={key}"
    drain(runtime)
    with runtime.sessions() as session:
        message = session.scalars(select(TicketMessage)).one()
        stored = message.attachments
    assert [(a["name"], a["content_type"], a["size"]) for a in stored] == [
        ("ошибка.png", "image/png", 72),
        ("акт.pdf", "application/pdf", 13),
    ]
    path = runtime.settings.attachments_dir / stored[0]["stored_key"]
    assert path.read_bytes() == PNG
    # The specialist sees them on the ticket and downloads them.
    with runtime.sessions() as session:
        _, token = create_user(
            session=session, name="Admin", email="admin@ssc.example.com", role="admin", teams=[]
        )
        session.commit()
    staff = {"Authorization": f"Bearer {token}"}
    number = client.get(body["status_url"].replace("http://testserver", "")).json()["ticket"]
    ticket = client.get(f"/api/v1/tickets/{number}", headers=staff).json()
    first = ticket["messages"][0]
    assert [a["name"] for a in first["attachments"]] == ["ошибка.png", "акт.pdf"]
    download = client.get(f"/api/v1/tickets/{number}/attachments/{first['id']}-0", headers=staff)
    assert download.status_code == 200 and download.content == PNG


def test_uploads_refuse_wrong_types_large_and_empty_files(
    client: TestClient, runtime: Runtime
) -> None:
    runtime.settings.portal_max_file_bytes = 1_000
    script = client.post(
        "/api/v1/intake/uploads", files={"file": ("run.html", b"<script>", "text/html")}
    )
    assert script.status_code == 415 and script.json()["error"] == "unsupported_type"
    exe = client.post("/api/v1/intake/uploads", files={"file": ("setup.exe", b"MZ", "")})
    assert exe.status_code == 415
    big = client.post("/api/v1/intake/uploads", files={"file": ("big.pdf", b"x" * 1_001, "")})
    assert big.status_code == 413 and big.json()["error"] == "file_too_large"
    empty = client.post("/api/v1/intake/uploads", files={"file": ("empty.txt", b"", "text/plain")})
    assert empty.status_code == 422 and empty.json()["error"] == "empty_file"
    missing = client.post("/api/v1/intake/uploads", data={"x": "1"})
    assert missing.status_code == 422


def test_an_upload_larger_than_the_json_body_limit_is_taken(
    client: TestClient, runtime: Runtime
) -> None:
    """The body limit (1 MB) guards JSON; an upload gets the file limit instead."""
    data = b"%PDF-1.4" + b"0" * 1_500_000
    assert len(data) > runtime.settings.max_body_bytes
    assert upload(client, "scan.pdf", data, "application/pdf")["size"] == len(data)


def test_the_form_refuses_forged_stale_and_too_many_attachments(
    client: TestClient, runtime: Runtime
) -> None:
    good = upload(client, "a.txt", b"hello", "text/plain")["id"]
    payload, _, signature = good.partition(".")
    forged = payload[:-2] + "xx." + signature
    for ids, code in (
        ([forged], "invalid_attachment"),
        (["not-an-id"], "invalid_attachment"),
        ([good] * (runtime.settings.portal_max_files + 1), "too_many_attachments"),
    ):
        resp = client.post("/api/v1/intake/webform", json={**FORM, "attachments": ids})
        assert resp.status_code == 422 and resp.json()["error"] == code, resp.text
    for path in runtime.settings.attachments_dir.rglob("*"):
        if path.is_file():
            path.unlink()  # the stored file is gone (another data directory, a clean-up)
    resp = client.post("/api/v1/intake/webform", json={**FORM, "attachments": [good]})
    assert resp.status_code == 422 and resp.json()["error"] == "invalid_attachment"
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(TicketMessage)) == 0


def test_a_form_without_attachments_keeps_its_idempotency_key(client: TestClient) -> None:
    first = client.post("/api/v1/intake/webform", json=FORM).json()
    again = client.post("/api/v1/intake/webform", json={**FORM, "attachments": []}).json()
    assert again["message_id"] == first["message_id"] and again["duplicate"]
    shot = upload(client, "a.png", PNG, "image/png")["id"]
    other = client.post("/api/v1/intake/webform", json={**FORM, "attachments": [shot]}).json()
    assert other["message_id"] != first["message_id"]  # files added: a request of its own
