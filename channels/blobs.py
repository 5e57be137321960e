"""Attachments of every channel, stored once under their content hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

from models.files import write_atomic

# Documents, images, archives and the office formats people send: the types the portal form
# takes (router/portal_uploads.py) and the workspace serves back under their own type
# (api/attachments.py), each adding its own few.
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "text/plain",
        "text/csv",
        "application/zip",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }
)


def stored_path(attachments_dir: Path, key: str) -> Path:
    return attachments_dir / key


def store_blob(attachments_dir: Path, data: bytes) -> str:
    """Write `data` once under its SHA-256 ('ab/abcdef…'); the same content is stored once."""
    digest = hashlib.sha256(data).hexdigest()
    key = f"{digest[:2]}/{digest}"
    target = stored_path(attachments_dir, key)
    if target.exists():
        return key
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: a crash never leaves a half file under a hash other workers trust.
    write_atomic(target, data, prefix=".tmp-")
    return key
