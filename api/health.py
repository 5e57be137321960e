"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from redis.exceptions import RedisError
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import RuntimeDep
from models.db import InboundMessage, NotificationRow, Ticket
from router.runtime import INTAKE_QUEUE, NOTIFY_QUEUE

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Database and Redis are reachable")
def readyz(runtime: RuntimeDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        runtime.redis.ping()
        checks["redis"] = "ok"
    except RedisError as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        status_code=200 if ready else 503,
        content={"status": "ready" if ready else "not_ready", "checks": checks},
    )


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(runtime: RuntimeDep) -> str:
    lines: list[str] = []
    with runtime.sessions() as session:
        for name, model in (
            ("okno_inbound_messages", InboundMessage),
            ("okno_tickets", Ticket),
            ("okno_notifications", NotificationRow),
        ):
            lines.append(f"# TYPE {name} gauge")
            rows = session.execute(select(model.status, func.count()).group_by(model.status))
            lines += [f'{name}{{status="{status}"}} {count}' for status, count in rows]
    lines.append("# TYPE okno_queue_length gauge")
    for queue in (INTAKE_QUEUE, NOTIFY_QUEUE):
        try:
            lines.append(f'okno_queue_length{{queue="{queue}"}} {runtime.queue(queue).count}')
        except RedisError:
            lines.append(f'okno_queue_length{{queue="{queue}"}} NaN')
    return "\n".join(lines) + "\n"
