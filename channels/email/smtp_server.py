"""The inbound SMTP server: check the recipient, store the raw bytes through `accept`, answer.

Parsing happens later in the worker; this handler only decides whether the mail is ours and
whether it was stored, so the sending MTA either gets 250 for a stored mail or retries.

Group commit (channels/group_commit.py): mails that arrive while a store is under way wait for
it, then go into the database together in one transaction; each session's 250 still comes only
after the commit that holds its mail. A group's enqueue runs after its answers (GroupCommit's
follow-up): a mail is stored when its 250 goes out, and queued for processing just after.
The INSERT is tried on the event loop first when it needs no waiting (an idle connection, a
free SQLite writer lock: `Intake.store_many_now`), else it runs on the executor; the enqueue
runs on the loop as asyncio I/O (`Intake.enqueue_stored_async`).
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import weakref
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from channels.email.keys import minimal_message
from channels.email.settings import EmailSettings
from channels.group_commit import GroupCommit, halves_of, on_loop_of
from models.types import Accept

log = logging.getLogger(__name__)
# aiosmtpd's protocol log: per-command chatter at INFO (EmailSettings.smtp_protocol_log).
protocol_log = logging.getLogger("mail.log")

REJECT_RCPT = "550 5.1.1 <{address}>: no such mailbox here"
STORED = "250 2.0.0 OK: queued as {ids}"
TEMPFAIL = "451 4.3.0 Could not store the message now, please try again later"

# `<local@domain>` with both parts plain dot-atoms of ASCII atext (RFC 5322 3.2.3), then what
# follows: the shape almost every MTA sends in MAIL FROM and RCPT TO. For it, the email package's
# header parser (what aiosmtpd's _getaddr runs) returns the address as written and, after the
# spaces and tabs that follow `>`, the rest of the line; anything else still goes to that parser.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ANGLE_ADDR = re.compile(
    rf"<((?:{_ATEXT})(?:\.{_ATEXT})*)@((?:{_ATEXT})(?:\.{_ATEXT})*)>[ \t]*(?![ \t(])(.*)",
    re.DOTALL,
)


class IntakeHandler:
    """aiosmtpd handler: only configured recipients; every accepted mail is stored or 451."""

    def __init__(self, accept: Accept, settings: EmailSettings, workers: int = 4) -> None:
        self.accept = accept
        self.settings = settings
        # What may wait (a busy database, Redis) runs here, off the event loop, bounded.
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp-accept")
        store, then = halves_of(accept)
        # The store is tried on the loop first: it waits for nothing there but one INSERT's
        # answer, and this loop only talks SMTP, whose sessions wait for that anyway; the
        # enqueue runs on the loop too, as asyncio I/O (`on_loop_of`); one the stop cuts off
        # there, `close` enqueues through `then_again`.
        now, then_async, then_again = on_loop_of(accept)
        self.group = GroupCommit(
            store,
            self.executor,
            coming=self.coming,
            then=then,
            now=now,
            then_async=then_async,
            then_again=then_again,
        )
        # The server's live connections (each registers itself) and the sessions whose mail is
        # handed to the group: the rest of those inside a mail transaction are still coming.
        self.connections: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.handing: set[Session] = set()
        self.recipients: dict[str, bool] = {}

    def coming(self) -> int:
        """Sessions inside a mail transaction (MAIL FROM accepted) that have not handed it yet:
        their mails are on the way, so the group store waits a moment for them."""
        return sum(
            1
            for smtp in self.connections
            if smtp.envelope is not None
            and smtp.envelope.mail_from is not None
            and smtp.session not in self.handing
        )

    def _accepts(self, address: str) -> bool:
        """settings.accepts, remembered per address (it builds its sets on every call)."""
        known = self.recipients.get(address)
        if known is None:
            if len(self.recipients) >= 4096:
                self.recipients.clear()
            known = self.recipients[address] = self.settings.accepts(address)
        return known

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not self._accepts(address):
            log.info("rejected recipient %s from %s", address, session.peer)
            return REJECT_RCPT.format(address=address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mailboxes = list(dict.fromkeys(address.strip().lower() for address in envelope.rcpt_tos))
        ids: list[str] = []
        self.handing.add(session)
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
        finally:
            self.handing.discard(session)
        log.info("stored mail from %s for %s as %s", envelope.mail_from, mailboxes, ids)
        return STORED.format(ids=",".join(ids))

    def close(self) -> None:
        """After the server has stopped: what the executor holds, then the enqueues still owed."""
        self.executor.shutdown(wait=True)
        self.group.finish()


class _SizeClearSMTP(SMTP):
    """aiosmtpd's own 552 says "Too much mail data"; senders deserve the limit in the reply.

    Registers itself with an IntakeHandler, which counts the connections in a mail transaction.
    """

    def __init__(self, handler: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(handler, *args, **kwargs)
        if isinstance(handler, IntakeHandler):
            handler.connections.add(self)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address parse, the same answer, without the header parser for a plain
        `<local@domain>`: that parser (and a class aiosmtpd defines on every call) was a third
        of the server's CPU per mail; tests compare both on thousands of arguments."""
        plain = _PLAIN_ANGLE_ADDR.fullmatch(arg)
        if plain is None or "=?" in arg:  # the parser tries an RFC 2047 word at "=?"
            return super()._getaddr(arg)
        local, domain, rest = plain.groups()
        if self.local_part_limit and len(local) > self.local_part_limit:
            return None, None
        return f"{local}@{domain}", rest

    def push(self, status: AnyStr) -> Coroutine[Any, Any, None]:
        # aiosmtpd's own coroutine, handed back as is: no second coroutine for every reply.
        if isinstance(status, str) and status.startswith("552 Error"):
            status = f"552 5.3.4 Message too big: the limit is {self.data_size_limit} bytes"  # type: ignore[assignment]
        return super().push(status)


class IntakeController(Controller):
    def factory(self) -> SMTP:
        return _SizeClearSMTP(self.handler, **self.SMTP_kwargs)


def make_controller(
    accept: Accept, settings: EmailSettings, *, host: str | None = None, port: int | None = None
) -> IntakeController:
    """A threaded aiosmtpd server bound to host:port (settings' by default); call .start()."""
    protocol_log.setLevel(logging.NOTSET if settings.smtp_protocol_log else logging.WARNING)
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
