"""SMS text: two segments at most, whole sentences and words, the number and link always."""

from __future__ import annotations

import pytest

from channels.phone.smstext import is_gsm7, sms_text, sms_units
from router.texts import render

NUMBER = "OKNO-000123"
LINK = f"https://okno.corp.example.com/?ticket={NUMBER}"
DUE = {"response_due": "02.03.2026 13:12", "resolution_due": "03.03.2026 09:12"}


def created(language: str) -> str:
    names = {"ru": ("Справка с места работы", "Кадры"), "en": ("Employment letter", "HR")}
    service, team = names[language]
    return render(
        "created", language, number=NUMBER, service=service, team=team,
        tz="Europe/Moscow", children="", **DUE,
    )  # fmt: skip


def words_of(text: str) -> set[str]:
    return set(text.replace("…", " ").replace("...", " ").split())


def test_russian_created_fits_two_ucs2_segments() -> None:
    sms = sms_text(created("ru"), number=NUMBER, link=LINK, language="ru")
    assert sms.startswith(f"Ваше обращение зарегистрировано: {NUMBER}.")
    assert sms.endswith(f". Статус: {LINK}")
    assert not is_gsm7(sms) and sms_units(sms) <= 140


def test_english_created_fits_two_gsm_segments_and_keeps_more() -> None:
    sms = sms_text(created("en"), number=NUMBER, link=LINK, language="en")
    assert is_gsm7(sms) and sms_units(sms) <= 306
    assert "We will respond by 02.03.2026 13:12" in sms
    assert sms.endswith(f" Status: {LINK}")


def test_long_comment_is_cut_between_words_not_inside_one() -> None:
    comment = (
        "Пожалуйста, пришлите скан паспорта и заявление, подписанное руководителем отдела, "
        "до пятницы. Без этого мы не сможем оформить справку."
    )
    text = render("comment", "ru", number=NUMBER, text=comment)
    sms = sms_text(text, number=NUMBER, link=LINK, language="ru")
    assert sms_units(sms) <= 140 and NUMBER in sms and sms.endswith(LINK)
    body = sms.split(" Статус: ")[0]
    assert body.endswith("…")
    assert words_of(body) <= words_of(text)  # every word whole, none cut in half


def test_number_is_added_when_the_text_lacks_it() -> None:
    sms = sms_text(
        "Здравствуйте! Специалист свяжется с вами.", number=NUMBER, link=None, language="ru"
    )
    assert sms == f"{NUMBER}: Здравствуйте! Специалист свяжется с вами."


def test_a_link_too_long_gives_way_to_the_number() -> None:
    link = "https://okno.corp.example.com/" + "x" * 200
    sms = sms_text(created("ru"), number=NUMBER, link=link, language="ru")
    assert NUMBER in sms and link not in sms and sms_units(sms) <= 140


def test_typography_does_not_force_ucs2_on_english() -> None:
    text = "Request «OKNO-000123» — resolved… “Thanks” for waiting."
    sms = sms_text(text, number=NUMBER, link=LINK, language="en")
    assert is_gsm7(sms) and '"OKNO-000123" - resolved...' in sms


@pytest.mark.parametrize(
    ("text", "units"),
    [("abc", 3), ("a[b]c", 7), ("€", 2), ("Привет", 6), ("😀", 2)],
)
def test_units_count_gsm_escapes_and_utf16(text: str, units: int) -> None:
    assert sms_units(text) == units


def test_gsm_extended_characters_count_double_against_the_limit() -> None:
    text = f"{NUMBER}: " + "[x] " * 200
    sms = sms_text(text, number=NUMBER, link=None, language="en")
    assert is_gsm7(sms) and sms_units(sms) <= 306 < len(sms) * 2
