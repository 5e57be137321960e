"""The catalogue search's pieces: typo distance, keyboard layouts, partial queries."""

from __future__ import annotations

import pytest

from router.portal_search import Entry, search, variants, within

ENTRIES = [
    Entry("hr_vacation", ("Отпуск и график отпусков", "Vacation and leave"), ("",), ("HR",)),
    Entry("hr_certificate", ("Справка с места работы", "Employment certificate"), ("",), ("HR",)),
    Entry("access_password", ("Сброс пароля", "Password reset"), ("",), ("IT access",)),
]


@pytest.mark.parametrize(
    ("a", "b", "limit", "expected"),
    [
        ("pasword", "password", 1, True),  # a letter missing
        ("otpsuk", "otpusk", 1, True),  # two letters swapped count one
        ("vacaton", "vacation", 1, True),
        ("vacation", "station", 1, False),
        ("abc", "xyz", 2, False),
    ],
)
def test_within(a: str, b: str, limit: int, expected: bool) -> None:
    assert within(a, b, limit) is expected


def test_a_word_typed_in_the_wrong_layout_is_read_both_ways() -> None:
    assert "отпуск" in variants("jngecr")
    assert "vpn" in variants("мзт")


def test_partial_and_full_matches() -> None:
    assert [code for code, _ in search(ENTRIES, "справка для визы")] == ["hr_certificate"]
    assert [code for code, _ in search(ENTRIES, "password reset")] == ["access_password"]
    assert search(ENTRIES, "zzqx") == [] and search(ENTRIES, "для") == []
