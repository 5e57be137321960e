"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
from datetime import UTC

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.deps import RuntimeDep
from models.db import InboundMessage, NotificationRow, Ticket
from models.types import MessageStatus, utcnow
from router.runtime import INTAKE_QUEUE, NOTIFY_QUEUE, Runtime

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Database and Redis are reachable (503 names what is down)")
def readyz(runtime: RuntimeDep) -> JSONResponse:
    checks = {"database": _database_check(runtime), "redis": _redis_check(runtime)}
    down = [name for name, result in checks.items() if result != "ok"]
    return JSONResponse(
        status_code=503 if down else 200,
        content={"status": "not_ready" if down else "ready", "checks": checks, "down": down},
    )


def _database_check(runtime: Runtime) -> str:
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def _redis_check(runtime: Runtime) -> str:
    try:
        runtime.redis.ping()
    except RedisError as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Prometheus metrics (Authorization: Bearer OKNO_METRICS_TOKEN when that is set)",
)
def metrics(runtime: RuntimeDep, request: Request) -> Response:
    if not _metrics_allowed(runtime, request.headers.get("authorization", "")):
        return PlainTextResponse(
            "metrics need Authorization: Bearer <OKNO_METRICS_TOKEN>\n",
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    with runtime.sessions() as session:
        lines = _database_metrics(session)
    lines += _redis_metrics(runtime)
    return PlainTextResponse("\n".join(lines) + "\n")


def _metrics_allowed(runtime: Runtime, authorization: str) -> bool:
    token = runtime.settings.metrics_token
    if token is None:
        return True
    scheme, _, given = authorization.partition(" ")
    expected = token.get_secret_value().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)


def _database_metrics(session: Session) -> list[str]:
    lines: list[str] = []
    for name, model in (
        ("okno_inbound_messages", InboundMessage),
        ("okno_tickets", Ticket),
        ("okno_notifications", NotificationRow),
    ):
        lines.append(f"# TYPE {name} gauge")
        rows = session.execute(select(model.status, func.count()).group_by(model.status))
        lines += [f'{name}{{status="{status}"}} {count}' for status, count in rows]
    oldest = session.scalar(
        select(func.min(InboundMessage.created_at)).where(
            InboundMessage.status == MessageStatus.queued.value
        )
    )
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    age = max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0
    lines.append("# HELP okno_oldest_queued_message_age_seconds 0 when nothing waits")
    lines.append("# TYPE okno_oldest_queued_message_age_seconds gauge")
    lines.append(f"okno_oldest_queued_message_age_seconds {age:.1f}")
    return lines


def _redis_metrics(runtime: Runtime) -> list[str]:
    lines = ["# TYPE okno_queue_length gauge"]
    try:
        lengths = {q: str(runtime.queue(q).count) for q in (INTAKE_QUEUE, NOTIFY_QUEUE)}
        # Worker.all drops workers whose key expired (killed without saying goodbye).
        workers, up = str(len(Worker.all(connection=runtime.redis))), 1
    except RedisError:
        lengths = dict.fromkeys((INTAKE_QUEUE, NOTIFY_QUEUE), "NaN")
        workers, up = "NaN", 0
    lines += [f'okno_queue_length{{queue="{q}"}} {n}' for q, n in lengths.items()]
    lines += ["# TYPE okno_redis_up gauge", f"okno_redis_up {up}"]
    lines += ["# HELP okno_workers_live RQ workers registered in Redis"]
    lines += ["# TYPE okno_workers_live gauge", f"okno_workers_live {workers}"]
    return lines
