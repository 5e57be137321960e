"""/readyz names what is down; /metrics tells Redis, workers and the oldest waiting message."""

from __future__ import annotations

import dataclasses
import re
import socket
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr
from rq import SimpleWorker

from api.app import create_app
from models.db import make_engine, make_sessionmaker
from models.types import Channel, IncomingMessage
from router.intake import Intake
from router.runtime import INTAKE_QUEUE, Runtime, connect_redis


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def without_redis(runtime: Runtime) -> Runtime:
    """The runtime with a Redis URL nothing listens on, its client made as Okno makes it."""
    url = f"redis://127.0.0.1:{dead_port()}/0"
    redis, _ = connect_redis(runtime.settings.model_copy(update={"redis_url": url}))
    return dataclasses.replace(runtime, redis=redis, _queues={})


def metric(text: str, name: str) -> str:
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    assert found, text
    return found.group(1)


def test_readyz_names_redis_when_it_is_down(runtime: Runtime) -> None:
    response = TestClient(create_app(without_redis(runtime))).get("/readyz")
    assert response.status_code == 503
    assert response.json()["down"] == ["redis"]
    assert response.json()["checks"]["redis"].startswith("error: ConnectionError")


def test_readyz_names_the_database_when_it_is_down(runtime: Runtime, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'okno.db'}")
    gone = dataclasses.replace(runtime, engine=engine, sessions=make_sessionmaker(engine))
    response = TestClient(create_app(gone)).get("/readyz")
    assert response.status_code == 503 and response.json()["down"] == ["database"]
    engine.dispose()


def test_metrics_tell_redis_workers_and_the_oldest_queued_message(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    text = client.get("/metrics").text
    assert metric(text, "okno_redis_up") == "1"
    assert metric(text, "okno_oldest_queued_message_age_seconds") == "0.0"
    msg = IncomingMessage(channel=Channel.webform, external_id="m-1", text="Сломался принтер")
    Intake(runtime).accept(msg)
    worker = SimpleWorker([runtime.queue(INTAKE_QUEUE)], connection=runtime.redis)
    worker.register_birth()
    try:
        text = client.get("/metrics").text
    finally:
        worker.register_death()
    assert metric(text, "okno_workers_live") == "1"
    assert float(metric(text, "okno_oldest_queued_message_age_seconds")) >= 0.0
    assert 'okno_inbound_messages{status="queued"} 1' in text
    down = TestClient(create_app(without_redis(runtime))).get("/metrics").text
    assert metric(down, "okno_redis_up") == "0" and metric(down, "okno_workers_live") == "NaN"


def test_metrics_can_require_a_bearer_token(runtime: Runtime) -> None:
    token = "metrics-token-" + "7" * 30
    guarded = dataclasses.replace(
        runtime, settings=runtime.settings.model_copy(update={"metrics_token": SecretStr(token)})
    )
    client = TestClient(create_app(guarded))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": b"Bearer \xc3\xa9"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and "okno_redis_up 1" in ok.text
