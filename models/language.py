"""Tiny language detector for the two languages Okno speaks (ru, en)."""

from __future__ import annotations

import re

_CYR = re.compile(r"[а-яё]", re.IGNORECASE)
_LAT = re.compile(r"[a-z]", re.IGNORECASE)


def detect_language(text: str | None, default: str = "ru") -> str:
    """Return 'ru' when Cyrillic letters dominate, 'en' when Latin ones do, else `default`."""
    if not text:
        return default
    cyr = len(_CYR.findall(text))
    lat = len(_LAT.findall(text))
    if cyr == 0 and lat == 0:
        return default
    # Russian text routinely carries Latin product names (VPN, 1C, Outlook): weigh Cyrillic up.
    return "ru" if cyr * 2 >= lat else "en"
