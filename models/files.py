"""Writing a file so that readers see the old content or the new, never half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(
    path: Path, data: bytes, *, prefix: str | None = None, mode: int | None = None
) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`.

    A crash leaves no partial file under `path` (and no temporary one behind). `mode`, when
    given, is applied before the rename (mkstemp creates files readable by the owner only).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix or f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
