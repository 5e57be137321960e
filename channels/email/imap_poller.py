"""The IMAP poller: fetch new mail of one mailbox, hand it to `accept`, then flag/move/delete it.

At-least-once: the stored UID advances only after `accept` returned and the message was flagged
or moved, so a crash repeats at most one message, and the idempotency key absorbs the repeat.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from redis import Redis

from channels.email.imap_state import (
    LockLost,
    MailboxLock,
    MailboxState,
    SessionFactory,
    load_state,
    save_state,
)
from channels.email.keys import minimal_message
from channels.email.settings import EmailSettings, ImapMailbox
from models.types import Accept

log = logging.getLogger(__name__)

SEEN = b"\\Seen"
DELETED = b"\\Deleted"
MAX_BACKOFF = 300.0
IDLE_MAX = 25 * 60  # servers drop IDLE after 30 minutes (RFC 2177): re-issue before that


class ImapPoller:
    """Polls one mailbox; `poll_once` is one locked fetch round, `run_forever` the daemon loop."""

    def __init__(
        self,
        mailbox: ImapMailbox,
        *,
        accept: Accept,
        sessions: SessionFactory,
        redis: Redis,
        max_bytes: int,
        poll_seconds: float = 60,
        idle_slice: float = 1.0,
        timeout: float = 60,
    ) -> None:
        self.mailbox = mailbox
        self.accept = accept
        self.sessions = sessions
        self.max_bytes = max_bytes
        self.poll_seconds = poll_seconds
        self.idle_slice = idle_slice
        self.timeout = timeout
        self.lock = MailboxLock(redis, mailbox.state_key, ttl=max(300.0, 4 * timeout))
        self.client: IMAPClient | None = None
        self._last_uid = 0  # highest UID the last round saw handled, to spot mail that raced IDLE

    # --- connection -------------------------------------------------------------------------

    def connect(self) -> IMAPClient:
        if self.client is not None:
            return self.client
        box = self.mailbox
        context = ssl.create_default_context(cafile=box.ca_file)
        client = IMAPClient(
            box.host, port=box.port, ssl=box.ssl, ssl_context=context, timeout=self.timeout
        )
        try:
            if box.starttls and not box.ssl:
                client.starttls(context)
            client.login(box.user, box.password.get_secret_value())
            if box.after == "move" and box.move_to and not client.folder_exists(box.move_to):
                client.create_folder(box.move_to)
        except BaseException:
            _quietly(client.shutdown)
            raise
        self.client = client
        return client

    def disconnect(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            _quietly(client.logout)
            _quietly(client.shutdown)

    # --- one round --------------------------------------------------------------------------

    def poll_once(self, limit: int | None = None) -> int:
        """Fetch new messages (at most `limit`); 0 when another fetcher holds the mailbox."""
        if not self.lock.acquire():
            log.info("%s: another fetcher is at work, skipping this round", self.mailbox.state_key)
            return 0
        try:
            return self._fetch_new(self.connect(), limit)
        finally:
            self.lock.release()

    def _fetch_new(self, client: IMAPClient, limit: int | None) -> int:
        info = client.select_folder(self.mailbox.folder)
        validity = int(info[b"UIDVALIDITY"])
        state = load_state(self.mailbox.state_key, sessions=self.sessions)
        if state.uidvalidity != validity:
            state = self._baseline(client, info, validity, state)
        uids = sorted(
            u for u in client.search(["UID", f"{state.last_uid + 1}:*"]) if u > state.last_uid
        )
        if limit is not None:
            uids = uids[:limit]
        sizes = client.fetch(uids, ["RFC822.SIZE"]) if uids else {}
        for uid in uids:
            self.lock.renew()
            size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
            self._handle(client, uid, size, validity)
            state = MailboxState(validity, uid)
            save_state(self.mailbox.state_key, state, sessions=self.sessions)
        self._last_uid = state.last_uid
        return len(uids)

    def _baseline(
        self, client: IMAPClient, info: dict[bytes, Any], validity: int, old: MailboxState
    ) -> MailboxState:
        """New or changed UIDVALIDITY: old UIDs mean nothing, start below the first unprocessed.

        "Unprocessed" is every unseen mail when we flag, every mail when we move or delete
        (processed mail has left the folder). Mail seen by a person above that point is fetched
        again; the idempotency key makes that harmless.
        """
        criteria = ["UNSEEN"] if self.mailbox.after == "flag" else ["ALL"]
        pending = client.search(criteria)
        last = min(pending) - 1 if pending else max(int(info.get(b"UIDNEXT", 1)) - 1, 0)
        if old.uidvalidity is not None:
            log.warning(
                "%s: UIDVALIDITY changed %s -> %s, rescanning from UID %s",
                self.mailbox.state_key,
                old.uidvalidity,
                validity,
                last + 1,
            )
        state = MailboxState(validity, last)
        save_state(self.mailbox.state_key, state, sessions=self.sessions)
        return state

    def _handle(self, client: IMAPClient, uid: int, size: int, validity: int) -> None:
        raw, notes = self._fetch_raw(client, uid, size)
        if raw is None:
            log.warning("%s: UID %s vanished before fetch", self.mailbox.state_key, uid)
            return
        message = minimal_message(raw, mailbox=self.mailbox.mailbox_address, source="imap")
        message.meta.update(
            {"imap": {"folder": self.mailbox.folder, "uid": uid, "uidvalidity": validity}}
        )
        # Only the headers of an oversized mail were stored: the mailbox keeps the only whole
        # copy, so it is flagged, never moved or deleted, whatever `after` says.
        keep = size > self.max_bytes and self.mailbox.after != "flag"
        if keep:
            notes.append(
                f"the whole message stays in {self.mailbox.folder} (UID {uid}), flagged \\Seen"
            )
        if notes:
            message.meta["notes"] = notes
        self.accept(message, raw=raw)
        self._after(client, uid, keep=keep)

    def _fetch_raw(self, client: IMAPClient, uid: int, size: int) -> tuple[bytes | None, list[str]]:
        if size > self.max_bytes:
            # Too big to store whole: keep the headers so the requester still gets a ticket.
            data = client.fetch([uid], ["BODY.PEEK[HEADER]"]).get(uid, {})
            note = (
                f"message of {size} bytes exceeds the {self.max_bytes}-byte limit: body not fetched"
            )
            header = data.get(b"BODY[HEADER]")
            return (bytes(header) if header is not None else None), [note]
        body = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]")
        return (bytes(body) if body is not None else None), []

    def _after(self, client: IMAPClient, uid: int, *, keep: bool = False) -> None:
        box = self.mailbox
        if box.after == "flag" or keep:
            client.add_flags([uid], [SEEN], silent=True)
            return
        if box.after == "move" and box.move_to and client.has_capability("MOVE"):
            client.move([uid], box.move_to)
            return
        if box.after == "move" and box.move_to:
            client.copy([uid], box.move_to)
        client.add_flags([uid], [DELETED], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge([uid])
        else:
            client.expunge()

    # --- the daemon loop --------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """Fetch, wait for mail (IDLE or sleep), repeat; reconnect with back-off on any failure."""
        backoff = 1.0
        while not stop.is_set():
            try:
                self.poll_once()
                backoff = 1.0
                self.wait_for_mail(stop)
            except LockLost:
                log.warning("%s: lock lost mid-round, starting over", self.mailbox.state_key)
            except Exception:  # IMAP, network, DB or Redis down: nothing advanced, try again
                log.exception(
                    "%s: round failed, retrying in %.0fs", self.mailbox.state_key, backoff
                )
                self.disconnect()
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
        self.disconnect()

    def wait_for_mail(self, stop: threading.Event) -> None:
        """Until new mail, `poll_seconds`, or stop: IMAP IDLE where offered, a sleep otherwise."""
        client = self.client
        if client is None or not client.has_capability("IDLE"):
            stop.wait(self.poll_seconds)
            return
        info = client.select_folder(self.mailbox.folder)
        if int(info.get(b"UIDNEXT", 0)) - 1 > self._last_uid:
            return  # mail arrived between the round and now: IDLE would not announce it
        deadline = time.monotonic() + min(self.poll_seconds, IDLE_MAX)
        client.idle()
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                # Short slices keep stop responsive; any untagged response means "look again".
                responses = client.idle_check(timeout=self.idle_slice)
                if any(_is_change(r) for r in responses):
                    return
        finally:
            client.idle_done()


def _is_change(response: Any) -> bool:
    return (
        isinstance(response, tuple)
        and len(response) >= 2
        and response[1] in (b"EXISTS", b"RECENT", b"FETCH", b"EXPUNGE")
    )


def _quietly(action: Any) -> None:
    with contextlib.suppress(IMAPClientError, OSError):
        action()


def run_pollers(
    settings: EmailSettings,
    *,
    accept: Accept,
    sessions: SessionFactory,
    redis: Redis,
    stop: threading.Event,
) -> None:
    """One poller thread per configured mailbox until `stop` is set."""
    threads = []
    for box in settings.imap_mailboxes:
        poller = ImapPoller(
            box,
            accept=accept,
            sessions=sessions,
            redis=redis,
            max_bytes=settings.smtp_max_bytes,
            poll_seconds=settings.imap_poll_seconds,
        )
        thread = threading.Thread(
            target=poller.run_forever, args=(stop,), name=f"imap:{box.mailbox_address}", daemon=True
        )
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
