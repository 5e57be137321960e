"""Text normalisation for the classifier and masking of personal data for exports (ru/en)."""

from __future__ import annotations

import re

# One set of patterns serves both jobs: the classifier sees a token where the export shows a mask.
URL = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"']+", re.IGNORECASE)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,4})?\b")
# 13-19 digits is a payment card, 20+ (Russian settlement accounts are 20) an account number;
# single spaces or hyphens between digit groups are allowed.
LONG_DIGITS = re.compile(r"(?<![\w.,])\d(?:[ -]?\d){12,33}(?![\w])")
PHONE = re.compile(
    r"(?<![\w+])"
    r"(?:\+\d{1,3}[ \-]?|8[ \-]?)?"
    r"(?:\(\d{2,5}\)[ \-]?)?"
    r"\d{2,4}(?:[ \-]\d{2,4}){1,4}"
    r"(?![\w])"
    r"|(?<![\w+])\+?\d{10,14}(?!\w)"
)
# A number standing on its own: not glued to letters, so "1С", "2-НДФЛ", "win10" stay as words.
NUMBER = re.compile(r"(?<![^\W_])\d+(?:[.,:/]\d+)*(?!-?[^\W\d_])")
_SPACES = re.compile(r"\s+")

MASKS = {"email": "<EMAIL>", "phone": "<PHONE>", "card": "<CARD>", "account": "<ACCOUNT>"}


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _mask_long_digits(match: re.Match[str]) -> str:
    return MASKS["account"] if _digits(match.group()) >= 20 else MASKS["card"]


def _mask_phone(match: re.Match[str]) -> str:
    value = match.group()
    digits = _digits(value)
    # Dates, sums and short codes look like digit groups too; phones have 7-15 digits and a
    # phone-like shape (a plus, parentheses, or at least 10 digits, or the local 3-2-2 form).
    looks_like = (
        "+" in value or "(" in value or digits >= 10 or re.fullmatch(r"\d{3}-\d{2}-\d{2}", value)
    )
    return MASKS["phone"] if 7 <= digits <= 15 and looks_like else value


def mask_pii(text: str) -> str:
    """Replace e-mail addresses, card/account numbers and phone numbers with fixed masks."""
    text = EMAIL.sub(MASKS["email"], text)
    text = IBAN.sub(MASKS["account"], text)
    text = LONG_DIGITS.sub(_mask_long_digits, text)
    return PHONE.sub(_mask_phone, text)


def normalise(text: str | None) -> str:
    """Lower-case, ё→е, and URLs, e-mails, phones, card numbers and numbers to fixed tokens."""
    if not text:
        return ""
    text = URL.sub(" urltok ", text)
    text = EMAIL.sub(" emailtok ", text)
    text = IBAN.sub(" accounttok ", text)
    text = LONG_DIGITS.sub(
        lambda m: " accounttok " if _digits(m.group()) >= 20 else " cardtok ", text
    )
    text = PHONE.sub(lambda m: " phonetok " if _mask_phone(m) != m.group() else m.group(), text)
    text = text.lower().replace("ё", "е")
    text = NUMBER.sub(" numtok ", text)
    return _SPACES.sub(" ", text).strip()
