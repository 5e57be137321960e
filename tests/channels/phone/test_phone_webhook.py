"""One call's JSON → IncomingMessage: text, hint, notes, caller (no HTTP, no database)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from channels.phone.settings import load_phone_settings
from channels.phone.webhook import CallIn, to_message
from models.types import Channel, IncomingMessage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "phone"
SETTINGS = load_phone_settings(phone_ivr_map={"3": {"team": "it_desk"}})


def message(name: str, max_text_bytes: int = 64_000, **changes: Any) -> IncomingMessage:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    call = CallIn.model_validate({**data, **changes})
    return to_message(call, settings=SETTINGS, max_text_bytes=max_text_bytes)


def test_plain_transcript() -> None:
    msg = message("plain_transcript")
    assert (msg.channel, msg.external_id) == (Channel.phone, "pbx-20260302-091233-0007")
    assert msg.sender_address == "+79123456789" and msg.language == "ru"
    assert msg.subject is None  # a subject would be classified too: the words are the request
    (transcript,) = msg.meta["internal_notes"]
    assert transcript.splitlines()[1].startswith("caller (unlabelled): Алло, алло?")
    assert msg.meta["notes"] == [
        "recording: https://pbx.corp.example.com/recordings/2026/03/02/0007.wav"
    ]
    assert "routing_hint" not in msg.meta


def test_mapped_key_is_a_hint_and_an_unmapped_one_a_note() -> None:
    msg = message("segmented_transcript", ivr_choice=3)
    assert msg.meta["routing_hint"] == {"team": "it_desk"} and msg.meta["ivr_choice"] == "3"
    assert "IVR key 3 → team it_desk" in msg.meta["notes"]
    other = message("segmented_transcript", ivr_choice="7")
    assert "routing_hint" not in other.meta
    assert "IVR key 7 is not in OKNO_PHONE_IVR_MAP: no routing hint" in other.meta["notes"]


def test_segments_without_times_keep_their_order() -> None:
    msg = message(
        "unknown_caller",
        transcript=[
            {"speaker": "caller", "text": "Первое."},
            {"speaker": "agent", "text": "Слушаю."},
            {"speaker": "caller", "text": "Второе, э-э, тоже."},
        ],
    )
    assert msg.text == "Первое. Второе, тоже."
    assert msg.meta["internal_notes"][0].splitlines()[1:] == [
        "[--:--] caller: Первое.",
        "[--:--] agent: Слушаю.",
        "[--:--] caller: Второе, э-э, тоже.",
    ]


@pytest.mark.parametrize("caller", ["", "anonymous", "Unknown"])
def test_withheld_caller(caller: str) -> None:
    msg = message("unknown_caller", caller=caller)
    assert msg.sender_address is None
    assert "caller number withheld: no SMS updates possible" in msg.meta["notes"]


def test_garbled_caller_is_noted() -> None:
    msg = message("unknown_caller", caller="sip:pbx-trunk-3")
    assert msg.sender_address is None
    assert "caller number not recognised: 'sip:pbx-trunk-3'" in msg.meta["notes"]


def test_a_very_long_call_is_cut_for_routing_but_kept_whole_in_the_notes() -> None:
    speech = "у меня не печатает принтер на третьем этаже " * 400
    msg = message("unknown_caller", max_text_bytes=1_000, transcript=speech)
    assert len(msg.text.encode("utf-8")) <= 1_000 and speech.startswith(msg.text)
    assert any("truncated" in n for n in msg.meta["notes"])
    assert speech.strip() in msg.meta["internal_notes"][0]


@pytest.mark.parametrize(("given", "language"), [("ru-RU", "ru"), ("EN", "en"), ("de", None)])
def test_language(given: str, language: str | None) -> None:
    assert message("unknown_caller", language=given).language == language
