"""The inbound SMTP server: check the recipient, store the raw bytes through `accept`, answer.

Parsing happens later in the worker; this handler only decides whether the mail is ours and
whether it was stored, so the sending MTA either gets 250 for a stored mail or retries.

Group commit: mails that arrive while a store is under way wait for it, then go into the database
together in one transaction (and into Redis in one round trip) when `accept` offers
`accept_many`. Each session's 250 still comes only after the commit that holds its mail, so
"stored before acknowledged" holds; one store runs at a time, the process's one writer.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.email.keys import minimal_message
from channels.email.settings import EmailSettings
from models.types import Accept, AcceptResult, IncomingMessage

log = logging.getLogger(__name__)

REJECT_RCPT = "550 5.1.1 <{address}>: no such mailbox here"
STORED = "250 2.0.0 OK: queued as {ids}"
TEMPFAIL = "451 4.3.0 Could not store the message now, please try again later"
GROUP_MAX = 64  # mails stored in one transaction at most
# Under load (the last store held more than one mail) the next store waits up to this long for
# as many mails as the last one held: bigger groups, each mail's 250 at most this much later.
GROUP_LINGER = 0.005

Item = tuple[IncomingMessage, bytes | None]
Outcome = AcceptResult | Exception


class GroupCommit:
    """Stores what concurrent SMTP sessions hand it, batched while the previous store runs.

    Lives on the server's event loop (no locks needed there); the blocking store runs on
    `executor`, one batch at a time. Every waiting session gets its own result or exception.
    """

    def __init__(self, accept: Accept, executor: ThreadPoolExecutor) -> None:
        self.store = _store_many(accept)
        self.executor = executor
        self.pending: list[tuple[Item, asyncio.Future[AcceptResult]]] = []
        self.draining: asyncio.Task[None] | None = None
        self.wanted = 0  # how many pending mails end the current wait
        self.enough = asyncio.Event()

    async def submit(self, message: IncomingMessage, raw: bytes | None) -> AcceptResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AcceptResult] = loop.create_future()
        self.pending.append(((message, raw), future))
        if len(self.pending) >= self.wanted:
            self.enough.set()
        if self.draining is None:
            self.draining = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        last = 1
        try:
            while self.pending:
                if last > 1 and len(self.pending) < last:
                    await self._linger(last)
                batch, self.pending = self.pending[:GROUP_MAX], self.pending[GROUP_MAX:]
                items, last = [item for item, _ in batch], len(batch)
                try:
                    outcomes = await loop.run_in_executor(self.executor, self.store, items)
                except Exception as exc:  # the whole transaction failed: nothing was stored
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # the session went away meanwhile
                        continue
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self.draining = None

    async def _linger(self, wanted: int) -> None:
        self.wanted = wanted
        self.enough.clear()
        try:
            await asyncio.wait_for(self.enough.wait(), GROUP_LINGER)
        except TimeoutError:
            pass
        finally:
            self.wanted = 0


def _store_many(accept: Accept) -> Callable[[Sequence[Item]], list[Outcome]]:
    """Intake's group commit when it has one; otherwise `accept` once per mail."""
    many = getattr(accept, "accept_many", None)
    if many is not None:
        return many  # type: ignore[no-any-return]

    def one_by_one(items: Sequence[Item]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for message, raw in items:
            try:
                outcomes.append(accept(message, raw=raw))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    return one_by_one


class IntakeHandler:
    """aiosmtpd handler: only configured recipients; every accepted mail is stored or 451."""

    def __init__(self, accept: Accept, settings: EmailSettings, workers: int = 4) -> None:
        self.accept = accept
        self.settings = settings
        # accept() is blocking (DB + Redis): keep it off the event loop, bounded.
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp-accept")
        self.group = GroupCommit(accept, self.executor)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not self.settings.accepts(address):
            log.info("rejected recipient %s from %s", address, session.peer)
            return REJECT_RCPT.format(address=address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mailboxes = list(dict.fromkeys(address.strip().lower() for address in envelope.rcpt_tos))
        ids: list[str] = []
        try:
            # One stored message per helpdesk mailbox: the key includes the mailbox address.
            for mailbox in mailboxes:
                message = minimal_message(
                    raw, mailbox=mailbox, source="smtp", envelope_from=envelope.mail_from
                )
                result = await self.group.submit(message, raw)
                ids.append(str(result.message_id))
        except Exception:  # anything at all: the mail is not stored, so the MTA must retry
            log.exception("could not store mail from %s for %s", envelope.mail_from, mailboxes)
            return TEMPFAIL
        log.info("stored mail from %s for %s as %s", envelope.mail_from, mailboxes, ids)
        return STORED.format(ids=",".join(ids))

    def close(self) -> None:
        self.executor.shutdown(wait=True)


class _SizeClearSMTP(SMTP):
    """aiosmtpd's own 552 says "Too much mail data"; senders deserve the limit in the reply."""

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str) and status.startswith("552 Error"):
            status = f"552 5.3.4 Message too big: the limit is {self.data_size_limit} bytes"  # type: ignore[assignment]
        await super().push(status)


class IntakeController(Controller):
    def factory(self) -> SMTP:
        return _SizeClearSMTP(self.handler, **self.SMTP_kwargs)


def make_controller(
    accept: Accept, settings: EmailSettings, *, host: str | None = None, port: int | None = None
) -> IntakeController:
    """A threaded aiosmtpd server bound to host:port (settings' by default); call .start()."""
    return IntakeController(
        IntakeHandler(accept, settings),
        hostname=host or settings.smtp_host,
        port=settings.smtp_port if port is None else port,
        data_size_limit=settings.smtp_max_bytes,
        server_hostname="okno",
        ident="Okno intake",
    )


def serve(
    accept: Accept,
    settings: EmailSettings,
    *,
    host: str | None = None,
    port: int | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the SMTP server until SIGINT/SIGTERM (or `stop` is set)."""
    stop = stop or threading.Event()
    controller = make_controller(accept, settings, host=host, port=port)
    _on_signals(stop)
    controller.start()
    log.info("SMTP intake listening on %s:%s", controller.hostname, controller.port)
    try:
        stop.wait()
    finally:
        controller.stop()
        controller.handler.close()


def _on_signals(stop: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def _handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
