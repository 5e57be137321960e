"""A channel that keeps failing: RQ retries run out, the row is failed, e-mail is tried instead."""

from __future__ import annotations

import socket

import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from models.db import Employee, NotificationRow
from models.types import Channel, IncomingMessage
from router.intake import Intake
from router.runtime import NOTIFY_QUEUE, Runtime
from tests.conftest import drain


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_retries_exhausted_falls_back_to_email(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKNO_SMS_GATEWAY_URL", f"http://127.0.0.1:{closed_port()}/sms")
    monkeypatch.setenv("OKNO_SMS_GATEWAY_SECRET", "s3cret-for-the-gateway")
    with runtime.sessions.begin() as session:
        session.add(Employee(name="Олег", email="oleg@corp.example.com", phone="+79123456789"))
    Intake(runtime).accept(
        IncomingMessage(
            channel=Channel.phone,
            external_id="call-1",
            sender_address="+79123456789",
            text="Сломался принтер",
            service_hint="it_hardware",
        )
    )
    drain(runtime)
    scheduled = ScheduledJobRegistry(queue=runtime.queue(NOTIFY_QUEUE))
    for _ in range(5):  # every retry RQ schedules, run as the scheduler would when due
        (job_id,) = scheduled.get_job_ids()
        scheduled.requeue(job_id)
        drain(runtime)
    with runtime.sessions() as session:
        rows = session.scalars(select(NotificationRow).order_by(NotificationRow.id)).all()
    sms, email = rows
    assert (sms.channel, sms.status, sms.attempts) == ("phone", "failed", 6)
    assert "SmsGatewayUnavailable" in (sms.error or "")
    assert (email.channel, email.recipient, email.fallback_of_id) == (
        "email",
        "oleg@corp.example.com",
        sms.id,
    )
