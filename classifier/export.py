"""Export labelled examples from tickets as a seed-format CSV with personal data masked."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from classifier.text import mask_pii

COLUMNS = ("text", "service", "language", "channel", "department")


def write_examples(rows: Sequence[Mapping[str, str | None]], out: Path) -> int:
    """Write rows (text masked) to out through a temporary file; returns the number written."""
    tmp = out.with_name(f".{out.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {**{c: row.get(c) or "" for c in COLUMNS}, "text": mask_pii(row["text"] or "")}
            )
    os.replace(tmp, out)
    return len(rows)
