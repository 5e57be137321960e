"""E.164 normalisation of the numbers people and PBXs write."""

from __future__ import annotations

import pytest

from models.types import InvalidPhoneNumber, PhoneNumber, normalize_phone


@pytest.mark.parametrize(
    ("raw", "e164", "extension"),
    [
        ("8 (912) 345-67-89", "+79123456789", None),
        ("+7 912 345 67 89", "+79123456789", None),
        ("89123456789", "+79123456789", None),
        ("79123456789", "+79123456789", None),
        ("9123456789", "+79123456789", None),
        ("+7(912)345-67-89", "+79123456789", None),
        ("8.912.345.67.89", "+79123456789", None),
        ("  +7 912 345-67-89  ", "+79123456789", None),
        ("+7 (495) 987-65-43 доб. 2215", "+74959876543", "2215"),
        ("8 495 987-65-43 доб 2215", "+74959876543", "2215"),
        ("8 495 987-65-43, добавочный 15", "+74959876543", "15"),
        ("+7 495 987 65 43 ext 123", "+74959876543", "123"),
        ("+7 495 987 65 43 ext. 123", "+74959876543", "123"),
        ("+7 495 987 65 43 x123", "+74959876543", "123"),
        ("+74959876543#123", "+74959876543", "123"),
        ("+74959876543,123", "+74959876543", "123"),
        ("tel:+7-495-987-65-43;ext=7", "+74959876543", "7"),
        ("sip:+79123456789@pbx.corp.example.com", "+79123456789", None),
        ("+44 20 7946 0958", "+442079460958", None),
        ("8 10 44 20 7946 0958", "+442079460958", None),
        ("00 49 30 901820", "+4930901820", None),
    ],
)
def test_normalises_to_e164(raw: str, e164: str, extension: str | None) -> None:
    assert normalize_phone(raw) == PhoneNumber(e164=e164, extension=extension)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "anonymous",
        "2215",  # an internal extension is not a public number
        "123-45-67",  # a city number without its area code
        "8 912 345 67",  # digits missing
        "+7 912 345 67 890",  # a digit too many for Russia
        "+0 123 456 789",
        "+1234567890123456",  # longer than E.164 allows
        "8 (912) 345-67-89 звонить вечером",
        "#123",
        "+7 912 ABC 67 89",
    ],
)
def test_rejects_what_cannot_be_dialled(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(raw)
