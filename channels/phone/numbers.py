"""Phone numbers to E.164, the form employee phones are stored in, so callers match exactly."""

from __future__ import annotations

import re
from dataclasses import dataclass

from channels.base import ParseError

# "доб. 123", "ext 123", "x123", "#123", RFC 3966 ";ext=123", a dial-string pause ",123".
_EXTENSION = re.compile(
    r"[\s,;]*(?:доб(?:авочный)?\.?|вн(?:утр)?\.?|ext(?:ension)?\s*[.=]?|x|#|,)\s*(\d{1,6})\s*$",
    re.IGNORECASE,
)
_URI = re.compile(r"^(?:tel|sips?):", re.IGNORECASE)
_ALLOWED = re.compile(r"^\+?[\d\s().\-/]+$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


class InvalidPhoneNumber(ParseError):
    """Not something that can be dialled as a public phone number."""


@dataclass(frozen=True)
class PhoneNumber:
    e164: str
    extension: str | None = None


def normalize_phone(raw: str) -> PhoneNumber:
    """'8 (912) 345-67-89 доб. 12' → +79123456789 with extension '12'; Russian forms by default."""
    value = _URI.sub("", raw.strip()).split("@", 1)[0].strip()
    extension = None
    match = _EXTENSION.search(value)
    if match and match.start() > 0:
        extension, value = match.group(1), value[: match.start()]
    if not _ALLOWED.match(value):
        raise InvalidPhoneNumber(f"not a phone number: {raw!r}")
    e164 = _to_e164(re.sub(r"\D", "", value), international=value.lstrip().startswith("+"))
    if e164 is None or not _E164.match(e164) or (e164.startswith("+7") and len(e164) != 12):
        raise InvalidPhoneNumber(f"not a phone number: {raw!r}")
    return PhoneNumber(e164=e164, extension=extension)


def _to_e164(digits: str, *, international: bool) -> str | None:
    if international:
        return "+" + digits
    if digits.startswith("810") and len(digits) > 11:  # Russian long-distance exit code
        return "+" + digits[3:]
    if digits.startswith("00"):
        return "+" + digits[2:]
    if len(digits) == 11 and digits[0] in "78":
        return "+7" + digits[1:]
    if len(digits) == 10 and digits[0] in "3489":  # a Russian number without the trunk prefix
        return "+7" + digits
    return None
