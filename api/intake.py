"""Intake endpoints: the web form (and, beside it, the channel webhooks) and the status of a message."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
import weakref
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request, status
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError, ErrorBody
from api.schemas import Accepted, MessageStatusOut, WebformIn
from channels.blobs import stored_path
from channels.group_commit import GroupCommit
from models.db import InboundMessage, NotificationRow, Service, Ticket
from models.types import AcceptResult, Attachment, Channel, IncomingMessage, utcnow
from router import catalog_cache, portal_uploads, ratelimit, ratings, status_link
from router.intake import Intake
from router.runtime import Runtime

router = APIRouter(prefix="/api/v1", tags=["intake"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not JSON."},
    413: {"model": ErrorBody},
    422: {"model": ErrorBody},
    429: {"model": ErrorBody, "description": "Too many requests; see Retry-After."},
    503: {"model": ErrorBody},
}


def form_key(body: WebformIn) -> str:
    """Scoped to the sender and to what was asked.

    Someone else's submission_id must not return their request, and a page that edits its
    request and sends it again under the same submission_id has made a second request.
    """
    if not body.submission_id:
        return f"auto-{uuid.uuid4()}"
    parts = [body.subject.strip(), body.text.strip(), body.service_code or ""]
    asked = "\x1f".join(parts + (["\x1e".join(body.attachments)] if body.attachments else []))
    digest = hashlib.sha256(asked.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    key = f"{body.email.strip().lower()}|{body.submission_id}|{digest}"
    return key if len(key) <= 255 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def accepted(runtime: Runtime, result: AcceptResult) -> Accepted:
    return Accepted(
        message_id=result.message_id,
        status_url=status_link.api_url(
            runtime.settings.public_url, runtime.secret_key, result.message_id
        ),
        duplicate=result.duplicate,
        ticket=result.ticket_number,
        status_page_url=status_link.page_url(
            runtime.settings.public_url, runtime.secret_key, result.message_id
        ),
    )


def check_rate(runtime: Runtime, client: str, requester: str) -> None:
    """429 with Retry-After once a client address or a requester's address posts too often."""
    settings = runtime.settings
    for scope, who, limit in (
        ("client", client, settings.rate_limit_per_client),
        ("requester", requester, settings.rate_limit_per_requester),
    ):
        wait = ratelimit.wait_seconds(
            runtime.redis, scope, who, limit=limit, window=settings.rate_limit_window_seconds
        )
        if wait is not None:
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests from this {scope}; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )


def check_text_size(runtime: Runtime, text: str) -> None:
    limit = runtime.settings.max_text_bytes
    if len(text.encode("utf-8")) > limit:
        raise ApiError(413, "text_too_large", f"text is over {limit} bytes")


@router.post(
    "/intake/webform",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=ERRORS,
    summary="Submit a request from the web form",
)
async def submit_webform(body: WebformIn, request: Request) -> Accepted:
    """Store the request and queue it for routing; the same submission_id never makes two tickets.

    On the event loop, not in a worker thread: concurrent forms are stored together
    (channels/group_commit.py), one transaction and one Redis round trip per group, and each
    202 comes only after the commit that holds its form. What blocks (rate counters in Redis,
    the catalogue, upload files) runs in the thread pool, and only when the form needs it.
    """
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    if settings.rate_limit_per_client > 0 or settings.rate_limit_per_requester > 0:
        client = request.client.host if request.client else ""
        await run_in_threadpool(check_rate, runtime, client, body.email)
    check_text_size(runtime, body.text)
    attachments: list[Attachment] = []
    if body.service_code or body.attachments:
        attachments = await run_in_threadpool(checked_choices, runtime, body)
    message = IncomingMessage(
        channel=Channel.webform,
        external_id=form_key(body),
        attachments=attachments,
        sender_address=body.email.strip().lower(),
        sender_name=body.name.strip(),
        subject=body.subject.strip() or None,
        text=body.text.strip(),
        service_hint=body.service_code,
        language=body.language,
    )
    return accepted(runtime, await webform_group(request.app, runtime).submit(message, None))


def webform_group(app: FastAPI, runtime: Runtime) -> GroupCommit:
    """The app's web-form group commit on the running loop (a TestClient may run several loops;
    uvicorn runs one), storing through `Intake.accept_many` on the loop's default executor."""
    groups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit] | None
    groups = getattr(app.state, "webform_groups", None)
    if groups is None:
        groups = app.state.webform_groups = weakref.WeakKeyDictionary()
    loop = asyncio.get_running_loop()
    group = groups.get(loop)
    if group is None:
        group = groups[loop] = GroupCommit(Intake(runtime).accept_many)
    return group


def checked_choices(runtime: Runtime, body: WebformIn) -> list[Attachment]:
    """The chosen service is an active one (422 if not); the named uploads, checked."""
    if body.service_code and body.service_code not in active_services(runtime):
        raise ApiError(422, "unknown_service", f"no active service {body.service_code!r}")
    return form_attachments(runtime, body.attachments)


def active_services(runtime: Runtime) -> frozenset[str]:
    """The active services' codes, from the per-process catalogue cache (router/catalog_cache)."""

    def load() -> frozenset[str]:
        with runtime.sessions() as session:
            return frozenset(session.scalars(select(Service.code).where(Service.active.is_(True))))

    return catalog_cache.cached("services-active", load)


def form_attachments(runtime: Runtime, ids: list[str]) -> list[Attachment]:
    """The files the form names by their upload ids: ours, still stored, within the count."""
    limit = runtime.settings.portal_max_files
    if len(ids) > limit:
        raise ApiError(
            422, "too_many_attachments", [{"field": "attachments", "message": f"at most {limit}"}]
        )
    out = []
    for position, value in enumerate(ids):
        try:
            item = portal_uploads.attachment_of(runtime.secret_key, value)
        except portal_uploads.BadUpload as exc:
            detail = [{"field": f"attachments.{position}", "message": str(exc)}]
            raise ApiError(422, "invalid_attachment", detail) from exc
        if (
            not item.stored_key
            or not stored_path(runtime.settings.attachments_dir, item.stored_key).is_file()
        ):
            detail = [{"field": f"attachments.{position}", "message": "upload it again"}]
            raise ApiError(422, "invalid_attachment", detail)
        out.append(item)
    return out


def once(notes: Iterable[NotificationRow]) -> list[NotificationRow]:
    """One update per thing we said: an e-mail copy or fallback repeats its original."""
    seen: set[int] = set()
    kept = []
    for note in notes:
        said = note.fallback_of_id or note.id
        if said not in seen:
            seen.add(said)
            kept.append(note)
    return kept


def _error_kind(error: str | None) -> str | None:
    """Without the key only the kind of error shows: its detail may name people or numbers."""
    return error.split(":", 1)[0] if error else None


@router.get(
    "/messages/{message_id}",
    response_model=MessageStatusOut,
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
    summary="Status of a submitted message",
)
def message_status(
    message_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: SessionDep,
    runtime: RuntimeDep,
    key: Annotated[
        str | None, Query(max_length=64, description="The key of the status_url.")
    ] = None,
) -> MessageStatusOut:
    """Status and ticket number for anyone; the updates sent to the requester need the key."""
    row = session.get(InboundMessage, message_id)
    if row is None:
        raise ApiError(404, "not_found", f"no message {message_id}")
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
    updates = []
    keyed = status_link.key_matches(runtime.secret_key, message_id, key)
    if ticket is not None and keyed:
        notes = session.scalars(
            select(NotificationRow)
            .where(NotificationRow.ticket_id == ticket.id, NotificationRow.status == "sent")
            .order_by(NotificationRow.id)
        )
        updates = [{"kind": n.kind, "text": n.text, "sent_at": n.sent_at} for n in once(notes)]
    return MessageStatusOut(
        status=row.status,  # type: ignore[arg-type]
        ticket=ticket.number if ticket else None,
        error=row.error if keyed else _error_kind(row.error),
        channel=row.channel,
        received_at=row.created_at,
        updates=updates,
        rating_urls=_rating_urls(ticket, runtime) if keyed else None,
    )


def _rating_urls(ticket: Ticket | None, runtime: Runtime) -> dict[str, str] | None:
    grace, now = runtime.settings.reopen_grace_days, utcnow()
    if ticket is None or not ratings.open_for_rating(ticket, grace_days=grace, now=now):
        return None
    links = ratings.urls(runtime.settings.public_url, runtime.secret_key, ticket.id)
    return {str(n): url for n, url in links.items()}
