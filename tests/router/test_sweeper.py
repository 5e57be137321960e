"""The sweeper: a notification claimed by a dead job, crash loops, swept sends not chained."""

from __future__ import annotations

from datetime import timedelta

from rq.job import Job
from sqlalchemy import select

from models.db import InboundMessage, NotificationRow, Ticket
from models.types import utcnow
from router import jobs, notify
from router.intake import Intake, process_job_id
from router.runtime import Runtime
from router.sweeper import MAX_ABANDONED, sweep
from tests.conftest import drain
from tests.support.messages import form


def pending_comments(runtime: Runtime) -> list[int]:
    """A pending send per ticket: "created" goes inside the intake job, so one written after."""
    with runtime.sessions.begin() as session:
        tickets = session.scalars(select(Ticket).order_by(Ticket.id)).all()
        rows = [notify.outbox(t, "comment", "comment", session=session) for t in tickets]
        session.flush()
        return [r.id for r in rows if r]


def test_a_claimed_notification_is_not_sent_twice(runtime: Runtime) -> None:
    Intake(runtime).accept(form("f-1"))
    drain(runtime, ("intake",))
    (note_id,) = pending_comments(runtime)
    with runtime.sessions.begin() as session:
        row = session.get_one(NotificationRow, note_id)
        row.status = "sending"  # another run of the job is delivering it right now
        row.enqueued_at = utcnow()
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
    assert len(pending_comments(runtime)) == 2
    runtime.redis.flushdb()
    assert sweep(runtime, older_than=timedelta(0)).notifications == 2
    for job in runtime.queue("notify").get_jobs():
        assert job.dependency_ids == []
