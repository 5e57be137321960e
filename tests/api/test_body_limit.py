"""The body limit holds whether or not the client says how big the body is."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from models.db import InboundMessage
from router.runtime import Runtime

FORM = {
    "name": "Анна Петрова",
    "email": "a.petrova@corp.example.com",
    "subject": "Справка",
    "text": "Нужна справка с места работы.",
    "submission_id": "form-chunked-1",
}


def chunks(data: bytes, size: int = 8192) -> Iterator[bytes]:
    """A generator body: httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def stored(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count(InboundMessage.id))) or 0


def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_stored(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    huge = json.dumps({**FORM, "text": "x" * (runtime.settings.max_body_bytes + 1)}).encode()
    headers = {"Content-Type": "application/json"}
    resp = client.post("/api/v1/intake/webform", content=chunks(huge), headers=headers)
    assert resp.status_code == 413
    assert resp.json() == {
        "error": "too_large",
        "detail": f"body is over {runtime.settings.max_body_bytes} bytes",
    }
    assert stored(runtime) == 0


def test_a_chunked_body_within_the_limit_goes_through(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    body = json.dumps(FORM).encode()
    headers = {"Content-Type": "application/json"}
    resp = client.post("/api/v1/intake/webform", content=chunks(body, 16), headers=headers)
    assert resp.status_code == 202, resp.text
    assert stored(runtime) == 1
