"""Jobs used only by `okno bench`: the cost of RQ itself, for comparison."""

from __future__ import annotations


def noop(i: int) -> int:
    return i
