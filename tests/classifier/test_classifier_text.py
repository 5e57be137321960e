"""Normalisation for the model and personal-data masking for exports."""

from __future__ import annotations

import pytest

from classifier.text import mask_pii, normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ёлка и ЁЖ", "елка и еж"),
        ("VPN НЕ Работает", "vpn не работает"),
        ("см. https://wiki.corp/x?id=5 и www.example.com", "см. urltok и urltok"),
        ("пишите ivan.petrov@corp.example", "пишите emailtok"),
        ("звоните +7 (999) 123-45-67", "звоните phonetok"),
        ("call 8 999 123 45 67 now", "call phonetok now"),
        ("карта 4276 3800 1234 5678", "карта cardtok"),
        ("счёт 40702810900000012345", "счет accounttok"),
        ("с 10.05.2024 по 14:30, 3 монитора", "с numtok по numtok , numtok монитора"),
        ("справка 2-НДФЛ, ошибка в 1С, Win10", "справка 2-ндфл, ошибка в 1с, win10"),
        ("", ""),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_normalise_none_is_empty() -> None:
    assert normalise(None) == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("write to ivan.petrov@corp.example today", "write to <EMAIL> today"),
        ("тел. +7 (999) 123-45-67, доб. 1234", "тел. <PHONE>, доб. 1234"),
        ("mobile 89991234567", "mobile <PHONE>"),
        ("London +44 20 7946 0958", "London <PHONE>"),
        ("местный 123-45-67", "местный <PHONE>"),
        ("card 4276-3800-1234-5678 expired", "card <CARD> expired"),
        ("карта 4276380012345678", "карта <CARD>"),
        ("р/с 40702810900000012345", "р/с <ACCOUNT>"),
        ("IBAN DE89 3704 0044 0532 0130 00", "IBAN <ACCOUNT>"),
        (
            "отпуск с 10.05.2024 на 14 дней, кабинет 305",
            "отпуск с 10.05.2024 на 14 дней, кабинет 305",
        ),
        ("справка 2-НДФЛ за 2024 год", "справка 2-НДФЛ за 2024 год"),
    ],
)
def test_mask_pii(raw: str, expected: str) -> None:
    assert mask_pii(raw) == expected
