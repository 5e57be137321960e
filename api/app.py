"""The FastAPI application: intake webhooks, the portal, specialist and health endpoints."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import (
    analytics,
    attachments,
    catalog,
    employees,
    errors,
    health,
    intake,
    knowledge,
    phone,
    portal_follow,
    processes,
    queue,
    rate,
    telegram,
    tickets,
    users,
    webhooks,
    workflow,
)
from api import portal as portal_api
from api.agent import analytics_routes as agent_analytics_routes
from api.agent import knowledge_routes as agent_knowledge_routes
from api.agent import routes as agent_routes
from api.agent import ticket_routes as agent_ticket_routes
from router.runtime import Runtime

PORTAL = Path(__file__).parent / "static" / "portal.html"
AGENT_STATIC = Path(__file__).parent / "static" / "agent"
FOLLOW_STATIC = Path(__file__).parent / "static" / "follow"


class BodyLimit:
    """Refuse oversized bodies (413) before any handler sees them.

    A declared Content-Length is checked at once. A chunked body has none, so it is read here,
    counted, and stopped as soon as it passes the limit; what fits is handed on unchanged.
    """

    def __init__(self, app: ASGIApp, limit: int, paths: dict[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths or {}  # a larger limit for these exact paths (file uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope.get("path", ""), self.limit)
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit():
            if int(length) > limit:
                await self._refuse(scope, receive, send, limit)
            else:  # the server holds the client to its Content-Length
                await self.app(scope, receive, send)
            return
        body = await self._read(receive, limit)
        if body is None:
            await self._refuse(scope, receive, send, limit)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive, limit: int) -> bytes | None:
        """The whole body, or None once it is over the limit (the rest is not read)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: the handler sees what came
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = errors.error_response(413, "too_large", f"body is over {limit} bytes")
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` giving the buffered body once, then the client's own (disconnect) messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Okno",
        version="0.1.0",
        description="Intake gateway of the shared service centre: one window for every request.",
    )
    app.state.runtime = runtime
    errors.install(app)
    settings = runtime.settings
    # An upload is one file and its multipart framing; every other body keeps the usual limit.
    upload_limit = max(settings.max_body_bytes, settings.portal_max_file_bytes + 64_000)
    app.add_middleware(
        BodyLimit, limit=settings.max_body_bytes, paths={portal_api.UPLOADS_PATH: upload_limit}
    )
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
        employees,
        webhooks,
        attachments,
        agent_routes,
        agent_ticket_routes,
        knowledge,
        agent_knowledge_routes,
        agent_analytics_routes,
        rate,
        processes,
        portal_api,
        portal_follow,
    ):
        app.include_router(module.router)
    app.mount("/static/agent", StaticFiles(directory=AGENT_STATIC), name="agent-static")
    app.mount("/static/follow", StaticFiles(directory=FOLLOW_STATIC), name="follow-static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def portal(request: Request) -> Response:
        # A status link (router/status_link.page_url: `/?m=ID&key=KEY`) opens the status page;
        # the bare address is the new-request form.
        if request.query_params.get("m") and request.query_params.get("key"):
            return portal_follow.page()
        return HTMLResponse(PORTAL.read_text(encoding="utf-8"))

    return app
