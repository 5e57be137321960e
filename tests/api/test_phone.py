"""Phone intake end to end over real HTTP: uvicorn on loopback, RQ jobs, a local SMS gateway."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from api.app import create_app
from models.db import Employee, InboundMessage, NotificationRow, Ticket
from router.runtime import NOTIFY_QUEUE, Runtime
from tests.channels.phone.phone_servers import SmsGateway, hmac_header, serve_api, serve_gateway
from tests.conftest import drain

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "phone"
SECRET = "pbx-webhook-secret-4f1c9a7e"
GATEWAY_SECRET = "sms-gateway-secret-8b2d6e10"
EMPLOYEES = [
    ("Анна Петрова", "a.petrova@corp.example.com", "+79123456789", "ru"),
    ("Сергей Волков", "s.volkov@corp.example.com", "+74959876543", "ru"),
    ("John Smith", "j.smith@corp.example.com", "+442079460958", "en"),
]


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    with serve_gateway(SmsGateway(secret=GATEWAY_SECRET)) as gw:
        yield gw


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, gateway: SmsGateway, runtime: Runtime) -> Iterator[Any]:
    monkeypatch.setenv("OKNO_PHONE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("OKNO_SMS_GATEWAY_URL", gateway.url)
    monkeypatch.setenv("OKNO_SMS_GATEWAY_SECRET", GATEWAY_SECRET)
    monkeypatch.delenv("OKNO_PHONE_IVR_MAP", raising=False)
    with runtime.sessions.begin() as session:
        session.add_all(
            Employee(name=n, email=e, phone=p, language=lang) for n, e, p, lang in EMPLOYEES
        )
    with serve_api(create_app(runtime)) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


def payload(name: str, **changes: Any) -> bytes:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return json.dumps({**data, **changes}, ensure_ascii=False).encode("utf-8")


def post(client: httpx.Client, body: bytes, **sign: Any) -> httpx.Response:
    header = sign.pop("header", None) or hmac_header(sign.pop("secret", SECRET), body, **sign)
    return client.post(
        "/api/v1/intake/phone",
        content=body,
        headers={"Content-Type": "application/json", "X-Okno-Signature": header},
    )


def ticket_for(runtime: Runtime, message_id: int) -> dict[str, Any]:
    with runtime.sessions() as session:
        row = session.get(InboundMessage, message_id)
        assert row is not None and row.ticket_id is not None, row and (row.status, row.error)
        t = session.get(Ticket, row.ticket_id)
        assert t is not None
        return {
            "number": t.number,
            "team": t.team_code,
            "routing": t.routing,
            "notes": list(t.notes),
            "verified": t.requester_verified,
            "requester": t.requester.email if t.requester else None,
            "address": t.requester_address,
            "language": t.language,
            "messages": [(m.direction, m.body) for m in t.messages],
            "meta": row.payload["meta"],
        }


def notifications(runtime: Runtime) -> list[NotificationRow]:
    with runtime.sessions() as session:
        return list(session.scalars(select(NotificationRow).order_by(NotificationRow.id)))


def stored(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count(InboundMessage.id))) or 0


def accept(api: httpx.Client, runtime: Runtime, name: str, **changes: Any) -> dict[str, Any]:
    resp = post(api, payload(name, **changes))
    assert resp.status_code == 202, resp.text
    drain(runtime)
    return ticket_for(runtime, resp.json()["message_id"])


def test_plain_transcript_from_a_known_caller(
    api: httpx.Client, runtime: Runtime, gateway: SmsGateway
) -> None:
    resp = post(api, payload("plain_transcript"))
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status_url"].startswith(
        f"http://testserver/api/v1/messages/{body['message_id']}?key="
    )
    assert body["duplicate"] is False
    drain(runtime)
    ticket = ticket_for(runtime, body["message_id"])
    assert ticket["verified"] and ticket["requester"] == "a.petrova@corp.example.com"
    assert ticket["address"] == "+79123456789" and ticket["language"] == "ru"
    (_, said), (_, note) = ticket["messages"]
    assert said.startswith("здравствуйте. мне нужна справка с места работы, для визы")
    assert not any(w in said.lower() for w in ("алло", "э-э", "ну,", "как бы", "[", "<unk>"))
    assert note.startswith("Phone call pbx-20260302-091233-0007") and "[неразборчиво]" in note
    assert api.get(f"/api/v1/messages/{body['message_id']}").json()["status"] == "processed"
    (sms,) = gateway.received
    assert sms.signed and sms.json["to"] == "+79123456789"
    text = sms.json["text"]
    assert text.startswith(f"Ваше обращение зарегистрировано: {ticket['number']}.")
    assert re.search(r"Статус: http://testserver/\?m=\d+&key=[0-9a-f]{16}$", text)
    assert len(text) <= 140
    (note_row,) = notifications(runtime)
    assert (note_row.status, note_row.external_id, note_row.channel) == ("sent", "sms-1", "phone")


def test_segmented_transcript_keeps_only_the_callers_words(
    api: httpx.Client, runtime: Runtime
) -> None:
    ticket = accept(api, runtime, "segmented_transcript")
    assert ticket["requester"] == "s.volkov@corp.example.com"
    assert ticket["meta"]["caller_extension"] == "2215"
    assert ticket["meta"]["caller_raw"] == "8 495 987-65-43 доб. 2215"
    (_, said), (_, transcript) = ticket["messages"]
    assert said == (
        "Да, здравствуйте, у меня с утра не открывается Outlook, пишет ошибку подключения "
        "к серверу. Да, перезагружал, не помогло."
    )
    lines = transcript.splitlines()[1:]
    assert [line.split(" ", 2)[1] for line in lines] == [
        "ivr:", "agent:", "caller:", "agent:", "caller:", "agent:",
    ]  # fmt: skip
    assert lines[0].startswith("[00:00] ivr: Здравствуйте!")
    assert (
        "recording: https://pbx.corp.example.com/recordings/2026/03/02/0019.wav"
        in (ticket["notes"])
    )


def test_ivr_choice_is_a_routing_hint_and_sms_speaks_english(
    api: httpx.Client, runtime: Runtime, gateway: SmsGateway
) -> None:
    ticket = accept(api, runtime, "ivr_choice")
    assert ticket["requester"] == "j.smith@corp.example.com" and ticket["language"] == "en"
    assert (ticket["team"], ticket["routing"]) == ("facilities", "hint")
    assert "IVR key 5 → team facilities" in ticket["notes"]
    assert ticket["messages"][0][1] == (
        "the air conditioning in room 412 is, dripping water onto the desks."
    )
    (sms,) = gateway.received
    assert sms.json["to"] == "+442079460958"
    assert sms.json["text"].startswith(f"Your request is registered: {ticket['number']}.")
    assert "Status: http://testserver/?m=" in sms.json["text"]
    assert len(sms.json["text"]) <= 306


def test_ivr_map_from_configuration(
    api: httpx.Client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKNO_PHONE_IVR_MAP", '{"5": {"service": "fac_repair"}, "9": {"team": "x"}}')
    # Read once when the channel is first built, which the first request below does.
    ticket = accept(api, runtime, "ivr_choice")
    assert (ticket["team"], ticket["routing"]) == ("facilities", "hint")
    with runtime.sessions() as session:
        assert session.scalar(select(Ticket.service_code)) == "fac_repair"
    typo = accept(api, runtime, "unknown_caller", call_id="typo", ivr_choice="9")
    assert typo["team"] == "triage" and "routing_hint" not in typo["meta"]
    assert any("names nothing in the catalogue" in n for n in typo["notes"])


def test_unknown_caller_is_an_unverified_requester(
    api: httpx.Client, runtime: Runtime, gateway: SmsGateway
) -> None:
    ticket = accept(api, runtime, "unknown_caller")
    assert not ticket["verified"] and ticket["requester"] is None
    assert "unverified requester" in ticket["notes"]
    assert ticket["address"] == "+79990001122"
    assert [r.json["to"] for r in gateway.received] == ["+79990001122"]


def test_withheld_caller_still_makes_a_ticket(api: httpx.Client, runtime: Runtime) -> None:
    ticket = accept(api, runtime, "unknown_caller", call_id="anon-1", caller="anonymous")
    assert ticket["address"] is None and not ticket["verified"]
    assert "caller number withheld: no SMS updates possible" in ticket["notes"]
    assert notifications(runtime) == []


def test_same_call_id_makes_one_ticket(
    api: httpx.Client, runtime: Runtime, gateway: SmsGateway
) -> None:
    first = post(api, payload("plain_transcript")).json()
    drain(runtime)
    again = post(api, payload("plain_transcript"))
    assert again.status_code == 202
    assert again.json()["message_id"] == first["message_id"]
    assert again.json()["duplicate"] is True
    assert again.json()["ticket"] == ticket_for(runtime, first["message_id"])["number"]
    drain(runtime)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(Ticket.id))) == 1
    assert stored(runtime) == 1 and len(gateway.received) == 1


def test_empty_transcript_goes_to_triage_with_the_recording(
    api: httpx.Client, runtime: Runtime, gateway: SmsGateway
) -> None:
    ticket = accept(api, runtime, "empty_transcript")
    assert (ticket["team"], ticket["routing"]) == ("triage", "triage")
    assert ticket["messages"][0] == ("inbound", "")
    notes = ticket["notes"]
    assert "recording: https://pbx.corp.example.com/recordings/2026/03/02/0052.wav" in notes
    assert "transcript empty or unintelligible: listen to the recording" in notes
    assert "IVR key 3 → team it_desk (not applied: no speech to confirm it)" in notes
    assert gateway.received and "зарегистрировано" in gateway.received[0].json["text"]


@pytest.mark.parametrize(
    "sign",
    [
        {"offset": -301},
        {"offset": 400},
        {"secret": "not-the-shared-secret-at-all"},
        {"header": "v1=deadbeef"},
        {"header": "t=1700000000"},
        {"header": "sha256=abc"},
    ],
    ids=["stale", "future", "wrong-secret", "no-t", "no-v1", "garbage"],
)
def test_bad_signature_is_401_and_nothing_stored(
    api: httpx.Client, runtime: Runtime, sign: dict[str, Any]
) -> None:
    if "offset" in sign:  # computed now: collection ran seconds ago
        sign = {"timestamp": int(time.time()) + sign["offset"]}
    resp = post(api, payload("plain_transcript"), **sign)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_signature"
    assert stored(runtime) == 0 and runtime.queue("intake").count == 0


def test_missing_or_tampered_signature_is_401(api: httpx.Client, runtime: Runtime) -> None:
    body = payload("plain_transcript")
    unsigned = api.post("/api/v1/intake/phone", content=body)
    assert unsigned.status_code == 401 and "missing" in unsigned.json()["detail"]
    tampered = body.replace("справка".encode(), "премия".encode())
    resp = post(api, tampered, header=hmac_header(SECRET, body))
    assert resp.status_code == 401 and "does not match" in resp.json()["detail"]
    assert stored(runtime) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"call_id": "x", ', ""),
        (payload("unknown_caller", call_id=None), "call_id"),
        (payload("unknown_caller", transcript=42), "transcript"),
        (payload("unknown_caller", started_at="yesterday"), "started_at"),
        (payload("unknown_caller", transcript=[{"speaker": "robot", "text": "hi"}]), "transcript"),
        (payload("unknown_caller", recording_url="ftp://pbx/0044.wav"), "recording_url"),
    ],
    ids=["malformed-json", "call_id", "transcript", "started_at", "speaker", "recording_url"],
)
def test_invalid_body_is_422_naming_the_field(
    api: httpx.Client, runtime: Runtime, body: bytes, field: str
) -> None:
    resp = post(api, body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"] == "invalid"
    assert any(f["field"].startswith(field) for f in resp.json()["detail"])
    assert stored(runtime) == 0


def test_missing_fields_are_named(api: httpx.Client, runtime: Runtime) -> None:
    data = json.loads(payload("plain_transcript"))
    for name in ("caller", "line", "started_at", "duration_s", "transcript"):
        body = json.dumps({k: v for k, v in data.items() if k != name}).encode()
        resp = post(api, body)
        assert resp.status_code == 422
        assert [f["field"] for f in resp.json()["detail"]] == [name]
    assert stored(runtime) == 0


def test_no_secret_configured_is_503(
    api: httpx.Client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OKNO_PHONE_WEBHOOK_SECRET")  # before the first request builds the channel
    resp = post(api, payload("plain_transcript"))
    assert resp.status_code == 503 and resp.json()["error"] == "not_configured"
    assert api.post("/api/v1/intake/phone", content=b"{}").status_code == 503
    assert stored(runtime) == 0


def test_gateway_fails_twice_then_succeeds_through_rq_retries(
    api: httpx.Client, runtime: Runtime, gateway: SmsGateway
) -> None:
    gateway.script = [503, 502]
    ticket = accept(api, runtime, "plain_transcript")
    scheduled = ScheduledJobRegistry(queue=runtime.queue(NOTIFY_QUEUE))
    for _ in range(2):
        (row,) = notifications(runtime)
        assert row.status == "pending"
        (job_id,) = scheduled.get_job_ids()  # RQ's Retry put it there, due in seconds
        scheduled.requeue(job_id)  # due now: what the scheduler does when the time comes
        drain(runtime)
    (row,) = notifications(runtime)
    assert (row.status, row.attempts, row.external_id) == ("sent", 3, "sms-3")
    assert [r.signed for r in gateway.received] == [True, True, True]
    assert len({r.json["text"] for r in gateway.received}) == 1
    assert ticket["number"] in gateway.received[-1].json["text"]
    assert scheduled.get_job_ids() == []


def test_gateway_refusal_is_permanent_and_falls_back_to_email(
    api: httpx.Client, runtime: Runtime, gateway: SmsGateway
) -> None:
    gateway.script = [400]
    accept(api, runtime, "plain_transcript")
    sms, email = notifications(runtime)
    assert (sms.channel, sms.status) == ("phone", "failed") and "400" in (sms.error or "")
    assert (email.channel, email.recipient) == ("email", "a.petrova@corp.example.com")
    assert email.fallback_of_id == sms.id
    assert len(gateway.received) == 1  # a 4xx is not retried


def test_nul_bytes_in_a_transcript_make_a_ticket_on_every_database(
    api: httpx.Client, runtime: Runtime
) -> None:
    # PostgreSQL refuses NUL in text columns; SQLite keeps it. Both must end the same way.
    ticket = accept(api, runtime, "plain_transcript", transcript="принтер\u0000сломался")
    (_, said), _ = ticket["messages"]
    assert "\x00" not in said and "принтер" in said and "сломался" in said
