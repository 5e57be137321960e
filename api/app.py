"""The FastAPI application: intake webhooks, the portal, specialist and health endpoints."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from api import (
    analytics,
    catalog,
    errors,
    health,
    intake,
    phone,
    queue,
    telegram,
    tickets,
    users,
    workflow,
)
from router.runtime import Runtime

PORTAL = Path(__file__).parent / "static" / "portal.html"


class BodyLimit(BaseHTTPMiddleware):
    """Refuse oversized bodies before reading them (413), by Content-Length."""

    def __init__(self, app: object, limit: int) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.limit = limit

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.limit:
            return errors.error_response(413, "too_large", f"body is over {self.limit} bytes")
        return await call_next(request)


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Okno",
        version="0.1.0",
        description="Intake gateway of the shared service centre: one window for every request.",
    )
    app.state.runtime = runtime
    errors.install(app)
    app.add_middleware(BodyLimit, limit=runtime.settings.max_body_bytes)
    for module in (
        health,
        intake,
        phone,
        telegram,
        tickets,
        queue,
        workflow,
        users,
        catalog,
        analytics,
    ):
        app.include_router(module.router)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def portal() -> str:
        return PORTAL.read_text(encoding="utf-8")

    return app
