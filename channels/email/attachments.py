"""Storing attachments under their content hash, within a per-file and a per-message budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from channels.blobs import store_blob
from models.types import Attachment

MB = 1024 * 1024


def _human(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB else f"{size} bytes"


@dataclass
class AttachmentBudget:
    """Keeps attachments of one message within the limits; what does not fit gets a note."""

    attachments_dir: Path | None
    max_bytes: int
    max_total_bytes: int
    used: int = 0
    attachments: list[Attachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, content_type: str, data: bytes) -> Attachment:
        size = len(data)
        if size > self.max_bytes:
            return self._drop(
                name, content_type, size, f"exceeds the {_human(self.max_bytes)} per-file limit"
            )
        if self.used + size > self.max_total_bytes:
            return self._drop(
                name,
                content_type,
                size,
                f"exceeds the {_human(self.max_total_bytes)} per-message limit",
            )
        self.used += size
        key = store_blob(self.attachments_dir, data) if self.attachments_dir else None
        item = Attachment(name=name, content_type=content_type, size=size, stored_key=key)
        self.attachments.append(item)
        return item

    def _drop(self, name: str, content_type: str, size: int, why: str) -> Attachment:
        note = f"attachment {name!r} ({_human(size)}) dropped: {why}"
        self.notes.append(note)
        item = Attachment(name=name, content_type=content_type, size=size, note=note)
        self.attachments.append(item)
        return item
