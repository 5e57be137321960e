"""Files attached on the portal form: stored first, then named by a signed id in the form.

Uploading stores the file where every channel's attachments go (content-addressed under
data_dir, `channels.blobs`) and answers an id that carries the stored key, the name, the type
and the size, signed with the API's secret: the JSON form lists those ids, and the API turns
them back into attachments without a table of uploads (so no migration, and several API
processes sharing the secret and the data directory accept each other's ids). A forged or
altered id fails the signature; a file uploaded but never sent stays in the content store like
any duplicate would, unreferenced.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import mimetypes

from channels.blobs import DOCUMENT_TYPES
from models.types import Attachment

# What the form takes: documents, images, archives and the office formats people send. The
# workspace serves each back as a download (api/attachments.py), never as a page.
ALLOWED_TYPES = DOCUMENT_TYPES | {
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
}
MAX_NAME = 200


class BadUpload(Exception):
    """An upload id that is not one of ours (forged, altered, or garbled)."""


def content_type(declared: str | None, filename: str) -> str:
    """The declared type, or the one the file name says when the browser sent none useful."""
    base = (declared or "").split(";")[0].strip().lower()
    if base and base != "application/octet-stream":
        return base
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def clean_name(filename: str | None) -> str:
    """The last path segment, without control characters, at most MAX_NAME characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return (name or "attachment")[:MAX_NAME]


def _sign(secret: bytes, payload: str) -> str:
    return hmac.new(secret, f"upload:{payload}".encode(), hashlib.sha256).hexdigest()[:32]


def upload_id(secret: bytes, attachment: Attachment) -> str:
    data = {
        "k": attachment.stored_key,
        "n": attachment.name,
        "t": attachment.content_type,
        "s": attachment.size,
    }
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    payload = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{payload}.{_sign(secret, payload)}"


def attachment_of(secret: bytes, value: str) -> Attachment:
    """The attachment an upload id names; BadUpload when the id is not one we signed."""
    payload, _, signature = value.partition(".")
    if not payload or not hmac.compare_digest(
        signature.encode("utf-8", "surrogatepass"), _sign(secret, payload).encode()
    ):
        raise BadUpload("not an upload id of this portal")
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return Attachment(
            name=str(data["n"]),
            content_type=str(data["t"]),
            size=int(data["s"]),
            stored_key=str(data["k"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BadUpload("garbled upload id") from exc
