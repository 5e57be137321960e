"""The PBX webhook body and its normal form: one finished call → one IncomingMessage."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from channels.phone.settings import PhoneSettings
from channels.phone.transcript import clean_speech, is_intelligible, truncate_utf8
from models.types import Channel, IncomingMessage, InvalidPhoneNumber, PhoneNumber, normalize_phone

EXAMPLE: dict[str, Any] = {
    "call_id": "pbx-20260302-101504-0042",
    "caller": "8 (912) 345-67-89",
    "line": "+7 495 123-45-67",
    "started_at": "2026-03-02T10:15:04+03:00",
    "duration_s": 74.5,
    "language": "ru",
    "ivr_choice": "3",
    "recording_url": "https://pbx.corp.example.com/recordings/0042.wav",
    "transcript": [
        {"speaker": "ivr", "text": "Вы позвонили в центр обслуживания.", "start_s": 0.0},
        {"speaker": "caller", "text": "Алло, э-э, у меня не работает VPN.", "start_s": 9.2},
        {"speaker": "agent", "text": "Проверим, оставайтесь на линии.", "start_s": 14.0},
    ],
}

# What PBXs put in the caller field when the number is hidden.
WITHHELD = frozenset({"", "anonymous", "unknown", "private", "restricted", "unavailable"})


class Segment(BaseModel):
    """One stretch of speech recognised on the call."""

    model_config = ConfigDict(extra="ignore")

    speaker: Literal["caller", "agent", "ivr"]
    text: str = Field(max_length=100_000)
    start_s: float | None = Field(default=None, ge=0, description="Offset from the call start.")


class CallIn(BaseModel):
    """What the PBX posts when a call ends; unknown fields are ignored for forward compatibility."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [EXAMPLE]})

    call_id: str = Field(
        min_length=1, max_length=200, description="The PBX's id: the idempotency key."
    )
    caller: str = Field(
        max_length=100, description="Caller's number; empty/'anonymous' if withheld."
    )
    line: str = Field(max_length=100, description="The number dialled.")
    started_at: datetime
    duration_s: float = Field(ge=0, le=86_400)
    transcript: str | list[Segment] = Field(description="Plain text, or speaker-labelled segments.")
    language: str | None = Field(default=None, max_length=16, description="e.g. ru, en, ru-RU.")
    recording_url: AnyHttpUrl | None = None
    ivr_choice: str | None = Field(
        default=None, max_length=16, description="The menu key pressed (a number is accepted too)."
    )

    @field_validator("ivr_choice", mode="before")
    @classmethod
    def _key_as_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


def to_message(call: CallIn, *, settings: PhoneSettings, max_text_bytes: int) -> IncomingMessage:
    """The caller's cleaned words become the text; everything else said goes to internal notes."""
    number, notes = _caller(call.caller)
    speech = caller_speech(call)
    hint, hint_note = routing_hint(call.ivr_choice, settings)
    if call.recording_url:
        notes.append(f"recording: {call.recording_url}")
    if not is_intelligible(speech):
        # Nothing said to route by: triage listens to the recording; the key pressed is a clue.
        speech = ""
        notes.append("transcript empty or unintelligible: listen to the recording")
        if hint:
            hint, hint_note = None, f"{hint_note} (not applied: no speech to confirm it)"
    notes.extend([hint_note] if hint_note else [])
    if len(speech.encode("utf-8")) > max_text_bytes:
        speech = truncate_utf8(speech, max_text_bytes)
        notes.append("caller's speech truncated for routing; the full call is in the notes")
    meta = _meta(call, number) | {"notes": notes, "internal_notes": [labelled_transcript(call)]}
    if hint:
        meta["routing_hint"] = hint
    return IncomingMessage(
        channel=Channel.phone,
        external_id=call.call_id,
        sender_address=number.e164 if number else None,
        text=speech,
        language=_language(call.language),
        meta=meta,
    )


def caller_speech(call: CallIn) -> str:
    """A plain transcript is all the caller's; of segments, only the caller's lines count."""
    if isinstance(call.transcript, str):
        return clean_speech(call.transcript)
    lines = (clean_speech(s.text) for s in ordered(call.transcript) if s.speaker == "caller")
    return " ".join(line for line in lines if line)


def ordered(segments: list[Segment]) -> list[Segment]:
    """By start time when every segment has one (per-channel recognisers post out of order)."""
    if all(s.start_s is not None for s in segments):
        return sorted(segments, key=lambda s: s.start_s or 0.0)
    return list(segments)


def routing_hint(choice: str | None, settings: PhoneSettings) -> tuple[dict[str, str] | None, str]:
    """The IVR key through OKNO_PHONE_IVR_MAP; the note says what was pressed and what it means."""
    if choice is None:
        return None, ""
    target = settings.ivr_target(choice)
    if target is None:
        return None, f"IVR key {choice} is not in OKNO_PHONE_IVR_MAP: no routing hint"
    hint = target.hint()
    kind, code = next(iter(hint.items()))
    return hint, f"IVR key {choice} → {kind} {code}"


def labelled_transcript(call: CallIn) -> str:
    """The whole call as said, for the specialist: who spoke when, IVR and agent included."""
    head = (
        f"Phone call {call.call_id}: {call.caller or 'withheld'} → {call.line}, "
        f"{call.started_at.isoformat()}, {call.duration_s:g} s"
    )
    if isinstance(call.transcript, str):
        return f"{head}\ncaller (unlabelled): {call.transcript.strip() or '—'}"
    lines = [
        f"[{_clock(s.start_s)}] {s.speaker}: {s.text.strip()}" for s in ordered(call.transcript)
    ]
    return "\n".join([head, *lines]) if lines else f"{head}\n(no speech recognised)"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def _caller(raw: str) -> tuple[PhoneNumber | None, list[str]]:
    """The caller in E.164 (how employee phones are stored), or a note saying why not."""
    try:
        return normalize_phone(raw), []
    except InvalidPhoneNumber:
        if raw.strip().lower() in WITHHELD:
            return None, ["caller number withheld: no SMS updates possible"]
        return None, [f"caller number not recognised: {raw!r}"]


def _meta(call: CallIn, number: PhoneNumber | None) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "caller_raw": call.caller,
        "caller_extension": number.extension if number else None,
        "line": call.line,
        "started_at": call.started_at.isoformat(),
        "duration_s": call.duration_s,
        "recording_url": str(call.recording_url) if call.recording_url else None,
        "ivr_choice": call.ivr_choice,
    }


def _language(value: str | None) -> str | None:
    code = (value or "").strip().lower()[:2]
    return code if code in ("ru", "en") else None


class SmsIn(BaseModel):
    """An SMS the gateway received for us (a requester's reply, e.g. a rating "5")."""

    model_config = ConfigDict(extra="ignore")

    message_id: str = Field(min_length=1, max_length=200, description="The gateway's id.")
    sender: str = Field(alias="from", max_length=100, description="The sender's number.")
    text: str = Field(max_length=10_000)


def sms_message(sms: SmsIn) -> IncomingMessage:
    """An inbound SMS as intake stores it; a withheld or broken number is refused (422)."""
    return IncomingMessage(
        channel=Channel.phone,
        external_id=f"sms:{sms.message_id}",
        sender_address=normalize_phone(sms.sender).e164,
        text=sms.text.strip(),
        meta={"sms": True, "notes": []},
    )
