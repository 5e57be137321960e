"""The sweeper thread outlives a Redis outage and enqueues what was stored meanwhile, quickly."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job

from models.types import Channel, IncomingMessage
from router.intake import Intake, process_job_id
from router.runtime import Runtime, connect_redis
from router.sweeper import sweep_forever


def dead_redis(runtime: Runtime) -> Redis:
    """A client for a Redis URL nothing listens on, made as Okno makes its client."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    url = f"redis://127.0.0.1:{port}/0"
    return connect_redis(runtime.settings.model_copy(update={"redis_url": url}))[0]


def enqueued(runtime: Runtime, message_id: int) -> bool:
    try:
        Job.fetch(process_job_id(message_id), connection=runtime.redis)
    except NoSuchJobError:
        return False
    return True


def test_sweeper_enqueues_what_was_stored_while_redis_was_away(runtime: Runtime) -> None:
    assert runtime.settings.sweep_after_seconds >= 30  # the usual cut-off is not what helps
    live = runtime.redis
    away = dataclasses.replace(runtime, redis=dead_redis(runtime), _queues={})
    msg = IncomingMessage(channel=Channel.webform, external_id="outage-1", text="Нет VPN")
    message_id = Intake(away).accept(msg).message_id  # stored, acknowledged, not enqueued
    assert not enqueued(runtime, message_id)
    stop = threading.Event()
    thread = threading.Thread(target=sweep_forever, args=(away, stop), daemon=True)
    thread.start()
    try:
        time.sleep(4)  # the sweeper meets the outage (and must survive it)
        assert thread.is_alive()
        away.redis, away._queues = live, {}
        deadline = time.monotonic() + 15
        while not enqueued(runtime, message_id):
            assert time.monotonic() < deadline, "not enqueued within 15 s of Redis returning"
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=10)
