"""SMS text: whole words and sentences in numbered parts or a short text; number and link always."""

from __future__ import annotations

import pytest

from channels.phone.smstext import is_gsm7, sms_parts, sms_text, sms_units
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


COMMENT = (
    "Пожалуйста, пришлите скан паспорта и заявление, подписанное руководителем отдела, "
    "до пятницы. Без этого мы не сможем оформить справку."
)


def test_a_long_comment_goes_whole_in_numbered_parts_split_between_words() -> None:
    text = render("comment", "ru", number=NUMBER, text=COMMENT)
    parts = sms_parts(text, number=NUMBER, link=LINK, language="ru")
    assert len(parts) == 2 and all(sms_units(p) <= 140 for p in parts)
    assert parts[0].startswith(f"(1/2) Новый комментарий по обращению {NUMBER}:")
    assert parts[1].startswith("(2/2) ") and parts[1].endswith(LINK)
    joined = " ".join(p.split(" ", 1)[1] for p in parts)
    assert words_of(joined) == words_of(text) | {"Статус:", LINK}  # every word, none cut


def test_the_password_notice_is_never_cut_mid_sentence() -> None:
    text = "Пароль сброшен, временный пароль: Kx7-pq92. Смените его при первом входе в систему."
    parts = sms_parts(text * 3, number=NUMBER, link=LINK, language="ru")
    assert "Kx7-pq92." in " ".join(parts) and all("…" not in p for p in parts)


def test_a_text_too_long_for_four_parts_is_the_short_text_with_the_link() -> None:
    text = " ".join(f"Предложение номер {n} о заявке." for n in range(60))
    (sms,) = sms_parts(text, number=NUMBER, link=LINK, language="ru")
    assert sms.endswith(LINK) and sms_units(sms) <= 140 and "…" not in sms
    body = sms.split(" Статус: ")[0]
    assert body.endswith("о заявке.")  # whole sentences only


def test_a_short_text_is_one_message_without_a_part_number() -> None:
    assert sms_parts("Готово.", number=NUMBER, link=None, language="ru") == [f"{NUMBER}: Готово."]


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
    parts = sms_parts(text, number=NUMBER, link=None, language="en")
    assert all(is_gsm7(p) and sms_units(p) <= 306 for p in parts)
    assert len(parts) > 3  # 812 characters would fit three parts if "[" counted once
