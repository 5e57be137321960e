"""Bearer-token auth and the role × team matrix of the specialists' API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from router.runtime import Runtime
from tests.conftest import drain
from tests.support.workflow import Staff, make_staff, make_ticket

# Endpoints that stay public: intake webhooks (their own signatures), the status page, health.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/intake/webform"),
    ("POST", "/api/v1/intake/phone"),
    ("POST", "/api/v1/intake/sms"),  # signed like the phone webhook
    ("POST", "/api/v1/intake/telegram"),
    ("GET", "/api/v1/messages/{message_id}"),
    ("POST", "/api/v1/messages/{message_id}/cancel"),  # the requester, with the status key
    ("GET", "/api/v1/services"),  # the portal's web form lists the catalogue to everyone
    ("GET", "/api/v1/services/{code}/articles"),  # and a service's public articles
    ("GET", "/api/v1/catalogue"),  # the portal's new-request page: active services by team,
    ("GET", "/api/v1/catalogue/search"),  # searching them,
    ("POST", "/api/v1/intake/candidates"),  # the model's suggestions (read-only, rate-limited)
    ("POST", "/api/v1/intake/uploads"),  # and the form's files (rate-limited, size/type capped)
    # Following a request: the status link's key (404 without it) or the portal's own
    # sign-in cookie (401 without it), never a specialist's token (docs/portal-follow.md).
    ("GET", "/api/v1/messages/{message_id}/conversation"),
    ("POST", "/api/v1/messages/{message_id}/replies"),
    ("POST", "/api/v1/portal/sign-in"),
    ("POST", "/api/v1/portal/sign-out"),
    ("GET", "/api/v1/portal/me"),
    ("GET", "/api/v1/portal/tickets"),
    ("GET", "/api/v1/portal/tickets/{number}"),
    ("POST", "/api/v1/portal/tickets/{number}/replies"),
    ("POST", "/api/v1/portal/tickets/{number}/cancel"),
}
EXAMPLES = {
    "number": "OKNO-000001",
    "user_id": "1",
    "code": "hr",
    "message_id": "1",
    "email": "a.petrova@corp.example.com",
    "webhook_id": "1",
    "id": "1-0",
    "article_id": "1",
    "suggestion_id": "0",
    "verdict": "dismiss",
}


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


def tickets(runtime: Runtime) -> tuple[str, str]:
    """A fresh hr ticket and a fresh payroll ticket."""
    with runtime.sessions() as session:
        hr = make_ticket(session, service="hr_certificate").number
        pay = make_ticket(session, service="pay_2ndfl").number
        session.commit()
    assert hr and pay
    return hr, pay


def operations(client: TestClient) -> list[tuple[str, str, bool]]:
    spec = client.get("/openapi.json").json()
    return [
        (method.upper(), path, bool(op.get("security")))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    ]


def test_every_api_endpoint_needs_a_token_except_the_public_ones(client: TestClient) -> None:
    ops = operations(client)
    assert {(m, p) for m, p, secured in ops if not secured} <= PUBLIC
    secured = [(m, p) for m, p, s in ops if s]
    assert len(secured) >= 25
    for method, path in secured:
        url = re.sub(r"\{(\w+)\}", lambda m: EXAMPLES[m.group(1)], path)
        for headers in ({}, {"Authorization": "Bearer okno_nope"}, {"Authorization": "Basic eDp5"}):
            resp = client.request(method, url, headers=headers, json={})
            assert resp.status_code == 401, (method, path, headers, resp.text)
            assert resp.json()["error"] == "unauthorized"


def test_openapi_has_the_bearer_scheme_and_documents_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if op.get("security"):
                assert "401" in op["responses"], (method, path)
                assert op.get("summary"), (method, path)
    claim = spec["paths"]["/api/v1/tickets/{number}/claim"]["post"]
    assert {"401", "403", "404", "409", "412", "422"} <= set(claim["responses"])
    assert "ETag" in claim["responses"]["200"]["headers"]
    assert any(p["name"] == "If-Match" for p in claim["parameters"])


def test_role_and_team_matrix(client: TestClient, runtime: Runtime, staff: Staff) -> None:
    """Each row runs on fresh tickets: (who, method, path, body, expected status)."""
    rows: list[tuple[str, str, str, Any, int]] = []
    for who, code in [
        ("hr", 200),
        ("lead", 200),
        ("analyst", 200),
        ("admin", 200),
        ("payroll", 404),
    ]:
        rows += [
            (who, "GET", "/tickets/{hr}", None, code),
            (who, "GET", "/tickets/{hr}/events", None, code),
        ]
    rows += [
        ("hr", "GET", "/tickets/{pay}", None, 404),
        ("payroll", "GET", "/tickets/{pay}", None, 200),
        ("hr", "GET", "/queue?team=payroll", None, 403),
        ("analyst", "GET", "/queue?team=payroll", None, 200),
        ("hr", "GET", "/teams/hr/members", None, 200),
        ("payroll", "GET", "/teams/hr/members", None, 403),
        ("analyst", "GET", "/teams/hr/members", None, 200),
        ("hr", "GET", "/services", None, 200),
        ("analyst", "GET", "/me", None, 200),
    ]
    for who, code in [("hr", 403), ("lead", 403), ("analyst", 200), ("admin", 200)]:
        rows += [
            (who, "GET", "/analytics/summary", None, code),
            (who, "GET", "/analytics/export", None, code),
        ]
    for who, code in [("hr", 403), ("lead", 403), ("analyst", 403), ("admin", 200)]:
        rows += [
            (who, "GET", "/users", None, code),
            (who, "PATCH", "/services/hr_certificate", {"resolution_hours": 50}, code),
        ]
    for who, code in [("hr", 403), ("analyst", 403), ("admin", 201)]:
        new_user = {"name": "N", "email": f"n-{who}@x.example.com", "role": "analyst"}
        new_service = {
            "code": f"svc_{who}",
            "team": "hr",
            "name_ru": "Н",
            "name_en": "N",
            "response_hours": 1,
            "resolution_hours": 2,
        }
        rows += [
            (who, "POST", "/users", new_user, code),
            (who, "POST", "/services", new_service, code),
        ]
    for who, code in [
        ("hr", 200),
        ("hr2", 200),
        ("lead", 200),
        ("admin", 200),
        ("analyst", 403),
        ("payroll", 404),
    ]:
        rows += [
            (who, "POST", "/tickets/{hr}/claim", None, code),
            (who, "POST", "/tickets/{hr}/comment", {"text": "x", "public": True}, code),
            (who, "POST", "/tickets/{hr}/resolve", {"resolution": "x"}, code),
            (who, "POST", "/tickets/{hr}/reassign", {"team": "legal", "reason": "x"}, code),
        ]
    for who, code in [
        ("lead", 200),
        ("admin", 200),
        ("hr", 403),
        ("analyst", 403),
        ("payroll", 404),
    ]:
        rows.append((who, "POST", "/tickets/{hr}/assign", {"user_id": staff.hr2.id}, code))
    for who, code in [("hr", 403), ("analyst", 403), ("payroll", 403), ("lead", 409)]:
        # Feedback on an open ticket: a lead passes the role check and meets the lifecycle.
        rows.append(
            (who, "POST", "/tickets/{hr}/feedback", {"rating": 5, "channel": "phone"}, code)
        )
    for who, code in [("hr", 404), ("payroll", 404), ("admin", 200)]:
        rows += [
            (who, "POST", "/tickets/{hr}/merge", {"into": "{pay}"}, code),
            (who, "POST", "/tickets/{hr}/links", {"other": "{pay}"}, code),
        ]
    failures = []
    for who, method, path, body, expected in rows:
        hr, pay = tickets(runtime)
        url = "/api/v1" + path.format(hr=hr, pay=pay)
        if isinstance(body, dict):
            body = {
                k: v.format(hr=hr, pay=pay) if isinstance(v, str) else v for k, v in body.items()
            }
        resp = client.request(method, url, headers=staff.people[who].headers, json=body)
        if resp.status_code != expected:
            failures.append(
                f"{who} {method} {path}: {resp.status_code} != {expected} {resp.text[:200]}"
            )
        elif expected >= 400:
            assert set(resp.json()) == {"error", "detail"}
    assert not failures, "\n".join(failures)


def test_specialists_lists_show_only_their_teams(
    client: TestClient, runtime: Runtime, staff: Staff
) -> None:
    hr, pay = tickets(runtime)
    listed = client.get("/api/v1/tickets", headers=staff.hr.headers).json()
    queued = client.get("/api/v1/queue", headers=staff.hr.headers).json()["items"]
    for rows in (listed, queued):
        numbers = {t["number"] for t in rows}
        assert hr in numbers and pay not in numbers
    other = client.get("/api/v1/tickets", params={"team": "payroll"}, headers=staff.hr.headers)
    assert other.json() == []
    everything = client.get("/api/v1/tickets", headers=staff.analyst.headers).json()
    assert {hr, pay} <= {t["number"] for t in everything}


def test_revoked_or_deactivated_users_are_locked_out(client: TestClient, staff: Staff) -> None:
    assert client.get("/api/v1/me", headers=staff.hr.headers).json()["teams"] == ["hr"]
    resp = client.patch(
        f"/api/v1/users/{staff.hr.id}", json={"active": False}, headers=staff.admin.headers
    )
    assert resp.status_code == 200 and resp.json()["active"] is False
    assert client.get("/api/v1/me", headers=staff.hr.headers).status_code == 401
    lockout = client.patch(
        f"/api/v1/users/{staff.admin.id}", json={"role": "analyst"}, headers=staff.admin.headers
    )
    assert lockout.status_code == 409 and lockout.json()["error"] == "self_lockout"


def test_reactivation_issues_a_new_token_and_the_old_one_stays_dead(
    client: TestClient, staff: Staff
) -> None:
    path, admin = f"/api/v1/users/{staff.hr.id}", staff.admin.headers
    assert client.patch(path, json={"active": False}, headers=admin).json()["has_token"] is False
    back = client.patch(path, json={"active": True}, headers=admin)
    assert back.status_code == 200 and back.json()["active"] is True
    token = back.json()["token"]
    assert token.startswith("okno_")
    assert client.get("/api/v1/me", headers=staff.hr.headers).status_code == 401
    fresh = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert fresh.status_code == 200 and fresh.json()["id"] == staff.hr.id
    # Any other change of an active user issues nothing.
    again = client.patch(path, json={"active": True, "name": "HR"}, headers=admin).json()
    assert again["token"] is None
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).is_success


def test_admin_manages_users(client: TestClient, staff: Staff) -> None:
    admin = staff.admin.headers
    body = {
        "name": "Ирина",
        "email": "I.Smirnova@corp.example.com",
        "role": "specialist",
        "teams": ["hr"],
    }
    created = client.post("/api/v1/users", json=body, headers=admin)
    assert created.status_code == 201
    token, user = created.json()["token"], created.json()["user"]
    assert token.startswith("okno_") and user["email"] == "i.smirnova@corp.example.com"
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["id"]
        == user["id"]
    )
    assert client.post("/api/v1/users", json=body, headers=admin).status_code == 409
    no_team = client.post(
        "/api/v1/users", json={**body, "email": "x@corp.example.com", "teams": []}, headers=admin
    )
    assert no_team.status_code == 422 and no_team.json()["error"] == "team_required"
    unknown = client.post(
        "/api/v1/users",
        json={**body, "email": "y@corp.example.com", "teams": ["zz"]},
        headers=admin,
    )
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["field"] == "teams"
    moved = client.patch(
        f"/api/v1/users/{user['id']}", json={"teams": ["payroll", "hr"]}, headers=admin
    )
    assert moved.json()["teams"] == ["hr", "payroll"]
    assert client.patch("/api/v1/users/99999", json={}, headers=admin).status_code == 404
    listed = client.get("/api/v1/users", headers=admin).json()
    assert "token_hash" not in listed[0] and any(u["email"] == user["email"] for u in listed)


def test_admin_manages_the_catalogue(client: TestClient, staff: Staff) -> None:
    admin = staff.admin.headers
    body = {
        "code": "hr_relocation",
        "team": "hr",
        "name_ru": "Релокация",
        "name_en": "Relocation",
        "response_hours": 8,
        "resolution_hours": 80,
    }
    assert client.post("/api/v1/services", json=body, headers=admin).status_code == 201
    assert client.post("/api/v1/services", json=body, headers=admin).status_code == 409
    codes = [s["code"] for s in client.get("/api/v1/services", headers=staff.hr.headers).json()]
    assert "hr_relocation" in codes
    hidden = client.patch(
        "/api/v1/services/hr_relocation", json={"active": False, "process": None}, headers=admin
    )
    assert hidden.status_code == 200 and hidden.json()["active"] is False
    codes = [s["code"] for s in client.get("/api/v1/services", headers=staff.hr.headers).json()]
    assert "hr_relocation" not in codes
    bad = client.patch(
        "/api/v1/services/hr_certificate",
        json={"resolution_hours": 0.5, "response_hours": 4},
        headers=admin,
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "resolution_hours"
    assert client.patch("/api/v1/services/nope", json={}, headers=admin).status_code == 404
    unknown = client.post(
        "/api/v1/services", json={**body, "code": "x_y", "team": "nope"}, headers=admin
    )
    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_team"


def test_public_endpoints_stay_public(client: TestClient, runtime: Runtime) -> None:
    form = {
        "name": "Анна",
        "email": "a@corp.example.com",
        "text": "Нужна справка",
        "service_code": "hr_certificate",
    }
    resp = client.post("/api/v1/intake/webform", json=form)
    assert resp.status_code == 202
    drain(runtime)
    status = client.get(f"/api/v1/messages/{resp.json()['message_id']}")
    assert status.status_code == 200 and status.json()["ticket"].startswith("OKNO-")
    assert client.get("/healthz").status_code == 200
