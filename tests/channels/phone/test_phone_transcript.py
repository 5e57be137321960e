"""The caller's words for the classifier: recognition noise and fillers out, content kept."""

from __future__ import annotations

import pytest

from channels.phone.transcript import clean_speech, is_intelligible, truncate_utf8


@pytest.mark.parametrize(
    ("said", "clean"),
    [
        ("Алло, алло? Здравствуйте.", "Здравствуйте."),
        ("Э-э, у меня, ну, не работает VPN.", "у меня, не работает VPN."),
        ("Ээ, ммм, м-м, эм, короче, сломался принтер", "сломался принтер"),
        ("у меня как бы не работает почта", "у меня не работает почта"),
        ("это самое, нужна справка, так сказать, для банка", "нужна справка, для банка"),
        (
            "нужен [неразборчиво] доступ <unk> к папке (нрзб) бухгалтерии",
            "нужен доступ к папке бухгалтерии",
        ),
        ("я я я хотел спросить про отпуск", "я хотел спросить про отпуск"),
        ("Алло? [шум] <noise> э-э", ""),
    ],
)
def test_cleans_russian_speech(said: str, clean: str) -> None:
    assert clean_speech(said) == clean


@pytest.mark.parametrize(
    ("said", "clean"),
    [
        ("Um, uh, my laptop, uhm, won't boot.", "my laptop, won't boot."),
        ("Hello? Hello, erm, I need a new badge, you know.", "I need a new badge."),
        (
            "hmm the [inaudible] printer <unk> on floor 3 ah is jammed",
            "the printer on floor 3 is jammed",
        ),
        ("I mean, the VPN drops every hour", "the VPN drops every hour"),
    ],
)
def test_cleans_english_speech(said: str, clean: str) -> None:
    assert clean_speech(said) == clean


@pytest.mark.parametrize(
    "content",
    [
        "как бы мне получить справку 2-НДФЛ",  # "how could I", not a filler
        "как бы не опоздать со сдачей отчёта",
        "номер пропуска 12 12 34",  # dictated digits stay as said
        "Do you know where the leave form is?",
        "I mean to book a room for Friday",
        "please say hello to the new hire",
        "а также нужен монитор",
        "размер 10 мм",
        "Э-мейл не приходит",
    ],
)
def test_keeps_words_that_only_look_like_fillers(content: str) -> None:
    assert clean_speech(content) == content


def test_intelligible_means_a_letter_or_digit_is_left() -> None:
    assert not is_intelligible("")
    assert not is_intelligible(" ,.?! ")
    assert is_intelligible("да")
    assert is_intelligible("412")


def test_truncates_at_a_word_boundary_within_the_byte_limit() -> None:
    text = "сломался принтер на третьем этаже " * 100
    cut = truncate_utf8(text, 100)
    assert len(cut.encode("utf-8")) <= 100
    assert text.startswith(cut) and text[len(cut)] == " "
    assert truncate_utf8("short", 100) == "short"
