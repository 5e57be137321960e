"""The four servers `okno bench intake` drives: ours and the bare counterpart of each.

Run as `python -m scripts.bench_intake_servers KIND PORT` with the OKNO_* settings in the
environment; each serves until SIGTERM. The bare ones do the least the same protocol needs:
the web endpoint only enqueues an RQ job, the SMTP handler only answers 250.
"""

from __future__ import annotations

import sys
import threading

from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import BaseModel

BARE_QUEUE = "bench-bare"


class Form(BaseModel):
    """The web form's fields, so the bare endpoint parses the same body ours does."""

    name: str
    email: str
    subject: str
    text: str
    submission_id: str


def web(port: int) -> None:
    import uvicorn

    from api.app import create_app
    from scripts.runtime import cli_runtime

    uvicorn.run(create_app(cli_runtime()), host="127.0.0.1", port=port, log_level="warning")


def bare_web(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI
    from redis import Redis
    from rq import Queue

    from models.settings import load_settings
    from scripts import bench_jobs

    settings = load_settings()
    queue = Queue(BARE_QUEUE, connection=Redis.from_url(settings.redis_url or ""))
    app = FastAPI()

    @app.post("/api/v1/intake/webform", status_code=202)
    def submit(body: Form) -> dict[str, str]:
        job = queue.enqueue(bench_jobs.noop, body.submission_id, result_ttl=0)
        return {"job_id": job.id}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def smtp(port: int) -> None:
    from channels.email.settings import EmailSettings
    from channels.email.smtp_server import serve
    from router.intake import Intake
    from scripts.runtime import cli_runtime

    serve(Intake(cli_runtime()), EmailSettings(), host="127.0.0.1", port=port)


class BareHandler:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 2.0.0 OK"


def bare_smtp(port: int) -> None:
    import signal

    from aiosmtpd.controller import Controller

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    controller = Controller(BareHandler(), hostname="127.0.0.1", port=port)
    controller.start()
    stop.wait()
    controller.stop()


SERVERS = {"web": web, "bare-web": bare_web, "smtp": smtp, "bare-smtp": bare_smtp}

if __name__ == "__main__":
    SERVERS[sys.argv[1]](int(sys.argv[2]))
