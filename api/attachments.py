"""Downloading a ticket's attachments, with the ticket's team scoping.

An attachment's id is `<message id>-<position>` (its place in that message's list), so it stays
the same however many messages follow. The stored file is served as a download
(Content-Disposition: attachment) and its recorded content type only when it is one a browser
cannot run as a page (the allow-list); everything else is application/octet-stream.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from api.auth import CurrentUser, visible_ticket
from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError
from api.views import TicketNumber, error_responses
from channels.blobs import DOCUMENT_TYPES, stored_path
from models.db import Ticket

router = APIRouter(prefix="/api/v1", tags=["tickets"])

# Voice messages and videos come in from Telegram and the phone channel.
SAFE_TYPES = DOCUMENT_TYPES | {"audio/ogg", "audio/mpeg", "video/mp4"}
KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{64}$")
AttachmentId = Annotated[str, PathParam(pattern=r"^[0-9]{1,18}-[0-9]{1,4}$", examples=["12-0"])]


def safe_type(content_type: str | None) -> str:
    base = (content_type or "").split(";")[0].strip().lower()
    return base if base in SAFE_TYPES else "application/octet-stream"


def listed(ticket: Ticket) -> list[dict[str, Any]]:
    """The ticket's attachments, stored or dropped (with the note why), in message order."""
    out = []
    for message in ticket.messages:
        for position, item in enumerate(message.attachments or []):
            if isinstance(item, dict):
                out.append({**item, "id": f"{message.id}-{position}"})
    return out


@router.get(
    "/tickets/{number}/attachments/{id}",
    summary="Download an attachment",
    description="The file as stored, as a download. Ids are in the ticket's messages "
    "(`<message id>-<position>`), and in the workspace's ticket page.",
    responses={
        200: {"content": {"application/octet-stream": {}}},
        **error_responses(401, 404, 422),
    },
)
def download(
    number: TicketNumber,
    id: AttachmentId,
    session: SessionDep,
    user: CurrentUser,
    runtime: RuntimeDep,
) -> FileResponse:
    ticket = visible_ticket(number, user, session=session)
    return attachment_response(ticket, id, runtime.settings.attachments_dir)


def attachment_response(ticket: Ticket, id: str, root: Path) -> FileResponse:
    """The attachment `id` of a ticket the caller may see, as a download; 404 if not stored."""
    number = ticket.number or ""
    item = next((a for a in listed(ticket) if a["id"] == id), None)
    key = item.get("stored_key") if item else None
    path = _stored(root, key)
    if item is None or path is None:
        raise ApiError(404, "not_found", f"no attachment {id} on {number.upper()}")
    name = str(item.get("name") or "attachment")
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "attachment"
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return FileResponse(
        path,
        media_type=safe_type(item.get("content_type")),
        headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
    )


def _stored(root: Path, key: object) -> Path | None:
    if not isinstance(key, str) or not KEY.match(key):
        return None
    path = stored_path(root, key)
    return path if path.is_file() else None
