"""/api/v1/webhooks: admins subscribe, list, read deliveries and remove; nobody else may."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from router.runtime import Runtime
from router.webhook_jobs import WEBHOOK_QUEUE
from router.webhook_subscriptions import webhook_settings
from tests.conftest import drain
from tests.router.webhook_receiver import Receiver, serve_receiver
from tests.support.workflow import Staff, make_staff, make_ticket


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    webhook_settings.cache_clear()
    return TestClient(create_app(runtime))


@pytest.fixture
def staff(runtime: Runtime) -> Staff:
    return make_staff(runtime)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as r:
        yield r


def test_admins_manage_webhooks_over_http(
    client: TestClient, staff: Staff, runtime: Runtime, receiver: Receiver
) -> None:
    body = {"url": receiver.url + "/hr", "events": ["ticket.created"], "team": "hr"}
    assert client.post("/api/v1/webhooks", json=body, headers=staff.lead.headers).status_code == 403
    created = client.post("/api/v1/webhooks", json=body, headers=staff.admin.headers)
    assert created.status_code == 201, created.text
    hook, secret = created.json()["webhook"], created.json()["secret"]
    assert hook["team"] == "hr" and secret.startswith("whsec_")
    listed = client.get("/api/v1/webhooks", headers=staff.admin.headers).json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]

    with runtime.sessions() as session:
        make_ticket(session)
        session.commit()
    drain(runtime, (WEBHOOK_QUEUE,))
    (post,) = receiver.posts
    assert post.signed_with(secret)
    path = f"/api/v1/webhooks/{hook['id']}/deliveries"
    (delivery,) = client.get(path, headers=staff.admin.headers).json()
    assert delivery["id"] == post.headers["X-Okno-Delivery"] and delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [200]

    bad = client.post(
        "/api/v1/webhooks",
        json={**body, "url": "file:///etc/passwd"},
        headers=staff.admin.headers,
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "url"
    gone = client.delete(f"/api/v1/webhooks/{hook['id']}", headers=staff.admin.headers)
    assert gone.status_code == 204
    assert client.get(path, headers=staff.admin.headers).status_code == 404
