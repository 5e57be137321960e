"""Sends to one requester about one ticket arrive in the order written (issue #11, section 4)."""

from __future__ import annotations

from rq.job import Job
from sqlalchemy import select

from models.db import NotificationRow, Ticket
from models.types import Channel, IncomingMessage
from router import jobs, notify
from router.intake import Intake
from router.runtime import INTAKE_QUEUE, NOTIFY_QUEUE, Runtime
from tests.conftest import drain


def three_notes(runtime: Runtime) -> list[int]:
    """Three sends about one ticket, a status, a comment and a question, written before any went.

    The "created" message goes inside the intake job (one job per message), so the three
    written after it make the line whose order is at stake.
    """
    message = IncomingMessage(
        channel=Channel.webform,
        external_id="order-1",
        sender_address="ivan@corp.example.com",
        text="Не работает принтер",
    )
    Intake(runtime).accept(message)
    drain(runtime, (INTAKE_QUEUE,))
    with runtime.sessions.begin() as session:
        ticket = session.scalars(select(Ticket)).one()
        kinds = ("status", "comment", "clarify")
        later = [notify.outbox(ticket, k, k, session=session) for k in kinds]
        session.flush()
        ids = session.scalars(select(NotificationRow.id).order_by(NotificationRow.id)).all()
        assert [n.id for n in later if n] == ids[1:]
    jobs.enqueue_send(runtime, [ids[1]])  # the first one's job waits in the queue
    return list(ids[1:])


def sent_order(runtime: Runtime) -> list[tuple[int, str]]:
    """The sends after "created", in the order they went."""
    with runtime.sessions() as session:
        sent = select(NotificationRow).where(
            NotificationRow.sent_at.is_not(None), NotificationRow.kind != "created"
        )
        rows = session.scalars(sent.order_by(NotificationRow.sent_at)).all()
        return [(r.id, r.status) for r in rows]


def test_a_later_send_taken_first_waits_for_the_earlier(runtime: Runtime) -> None:
    created, comment, question = three_notes(runtime)
    # Two other workers take the later sends while the first still waits in the queue.
    assert jobs.send_notification(question) == "waiting"
    assert jobs.send_notification(comment) == "waiting"
    drain(runtime, (NOTIFY_QUEUE,))  # the first goes, and hands on to the next in line
    assert sent_order(runtime) == [(created, "sent"), (comment, "sent"), (question, "sent")]


def test_a_failed_earlier_send_does_not_block_the_next(runtime: Runtime) -> None:
    created, comment, question = three_notes(runtime)
    runtime.redis.delete(*runtime.redis.keys("rq:*"))  # only hand-offs will run the sends
    assert jobs.send_notification(comment) == "waiting"
    with runtime.sessions.begin() as session:  # what on_send_failure leaves after the last try
        session.get_one(NotificationRow, created).status = "failed"
    jobs.hand_off(runtime, created)
    drain(runtime, (NOTIFY_QUEUE,))
    assert sent_order(runtime) == [(comment, "sent"), (question, "sent")]


def test_the_intake_job_delivers_the_first_send_itself(runtime: Runtime) -> None:
    """One job per message: "created" is sent by the intake job, no notify job is made for it."""
    message = IncomingMessage(
        channel=Channel.webform,
        external_id="inline-1",
        sender_address="ivan@corp.example.com",
        text="Не работает принтер",
    )
    Intake(runtime).accept(message)
    drain(runtime, (INTAKE_QUEUE,))
    with runtime.sessions() as session:
        created = session.scalars(select(NotificationRow)).one()
        assert (created.kind, created.status) == ("created", "sent")
    assert not Job.exists(jobs.send_job_id(created.id), connection=runtime.redis)
    assert runtime.queue(NOTIFY_QUEUE).count == 0
