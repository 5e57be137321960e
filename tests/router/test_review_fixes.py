"""Holes a review found: double sends, crash loops, sweeper chains, forms that claim a ticket."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from rq.job import Job
from sqlalchemy import func, select

from api.app import create_app
from models.db import InboundMessage, NotificationRow, Ticket
from models.types import Channel, IncomingMessage, utcnow
from router import jobs
from router.intake import Intake, process_job_id
from router.runtime import Runtime
from router.sweeper import MAX_ABANDONED, sweep
from tests.conftest import drain


def form(external_id: str, **kw: object) -> IncomingMessage:
    fields: dict[str, object] = {
        "channel": Channel.webform,
        "external_id": external_id,
        "text": "Нужна справка",
        "sender_address": "ivan@corp.example.com",
        "service_hint": "hr_certificate",
    }
    fields.update(kw)
    return IncomingMessage.model_validate(fields)


def test_a_claimed_notification_is_not_sent_twice(runtime: Runtime) -> None:
    Intake(runtime).accept(form("f-1"))
    drain(runtime, ("intake",))
    with runtime.sessions.begin() as session:
        row = session.scalars(select(NotificationRow)).one()
        row.status = "sending"  # another run of the job is delivering it right now
        row.enqueued_at = utcnow()
        note_id = row.id
    assert jobs.send_notification(note_id) == "sending"
    with runtime.sessions() as session:
        assert session.get(NotificationRow, note_id).sent_at is None  # type: ignore[union-attr]
    # That run died: after a while the sweeper hands the row to a new job, which sends it.
    runtime.redis.flushdb()
    report = sweep(runtime, older_than=timedelta(0), abandoned_after=timedelta(0))
    assert report.notifications == 1
    drain(runtime)
    assert jobs.send_notification(note_id) == "sent"
    with runtime.sessions() as session:
        assert session.get(NotificationRow, note_id).status == "sent"  # type: ignore[union-attr]


def test_a_message_that_keeps_killing_workers_ends_failed(runtime: Runtime) -> None:
    message_id = Intake(runtime).accept(form("poison")).message_id
    for attempt in range(MAX_ABANDONED + 1):
        job = Job.fetch(process_job_id(message_id), connection=runtime.redis)
        job.set_status("started")  # what a worker that died mid-job leaves behind
        job.started_at = utcnow() - timedelta(hours=1)
        job.save()
        report = sweep(runtime, older_than=timedelta(0), abandoned_after=timedelta(0))
        assert report.messages == (1 if attempt < MAX_ABANDONED else 0)
    with runtime.sessions() as session:
        row = session.get(InboundMessage, message_id)
        assert row is not None and row.status == "failed"
        assert row.error and row.error.startswith("abandoned:")


def test_swept_notifications_do_not_wait_for_each_other(runtime: Runtime) -> None:
    intake = Intake(runtime)
    intake.accept(form("a-1"))
    intake.accept(form("b-1", sender_address="olga@corp.example.com", subject="другое"))
    drain(runtime, ("intake",))
    runtime.redis.flushdb()
    assert sweep(runtime, older_than=timedelta(0)).notifications == 2
    for job in runtime.queue("notify").get_jobs():
        assert job.dependency_ids == []


def test_a_form_cannot_continue_a_ticket_by_number(runtime: Runtime) -> None:
    intake = Intake(runtime)
    number = jobs.process_message(intake.accept(form("f-own")).message_id)
    claim = form(
        "f-claim",
        subject=f"Re: {number}",
        text="пришлите на mallory@evil.example",
        service_hint=None,
    )
    assert jobs.process_message(intake.accept(claim).message_id) != number
    with runtime.sessions() as session:
        first = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert len(first.messages) == 1
        assert not first.requester_verified  # a typed-in address proves nothing


def test_someone_elses_submission_id_reveals_nothing(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime))
    body = {
        "name": "Иван",
        "email": "ivan@corp.example.com",
        "text": "Нужна справка",
        "submission_id": "form-0001",
    }
    mine = client.post("/api/v1/intake/webform", json=body).json()
    theirs = client.post(
        "/api/v1/intake/webform", json={**body, "email": "mallory@evil.example"}
    ).json()
    assert theirs["message_id"] != mine["message_id"] and not theirs["duplicate"]
    again = client.post("/api/v1/intake/webform", json=body).json()
    assert again["duplicate"] and again["message_id"] == mine["message_id"]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(InboundMessage.id))) == 2


def test_without_the_key_an_error_shows_only_its_kind(runtime: Runtime) -> None:
    result = Intake(runtime).accept(form("auto", meta={"auto_submitted": True}, service_hint=None))
    jobs.process_message(result.message_id)
    with runtime.sessions.begin() as session:
        row = session.get(InboundMessage, result.message_id)
        assert row is not None
        row.error = "link_phone: no employee has the phone '+79123456789'"
    client = TestClient(create_app(runtime))
    bare = client.get(f"/api/v1/messages/{result.message_id}").json()
    assert bare["error"] == "link_phone"
