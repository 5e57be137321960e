"""Group commit for inbound entry points that run on an event loop (SMTP server, web form).

Messages that arrive while a store is under way wait for it, then go into the database together
in one transaction (and into Redis in one round trip) when `accept` offers `accept_many`. Each
caller's answer still comes only after the commit that holds its message, so "stored before
acknowledged" holds; one store runs at a time, the process's one writer.

A store may come in two halves, the commit and what follows it (`then`: the enqueue). A lone
message is answered after both, as by one `accept`. A group is answered at its commit, and the
follow-ups run behind the answers, one at a time, each taking every stored message the one before
left: under load the senders start their next message while Redis is written, instead of waiting
for it. A stored message whose follow-up never ran is the sweeper's to enqueue.

A server that stops cancels the follow-up running on its loop, perhaps after Redis took it (its
answer still on the way), and perhaps never lets it see the cancellation (aiosmtpd closes the
loop a turn later): `finish` hands that one to `then_again` (Intake's enqueues only the messages
that have no job yet), so a stop neither loses nor doubles an enqueue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor

from models.types import Accept, AcceptResult, IncomingMessage

GROUP_MAX = 64  # messages stored in one transaction at most
# Under load the next store waits up to this long for the messages it expects (see `coming`):
# bigger groups, each answer at most this much later.
GROUP_LINGER = 0.005

Item = tuple[IncomingMessage, bytes | None]
Outcome = AcceptResult | Exception
StoreMany = Callable[[Sequence[Item]], Sequence[Outcome]]
Then = Callable[[Sequence[AcceptResult]], object]
# The store tried on the loop itself: the outcomes, or None when it would have to wait.
Now = Callable[[Sequence[Item]], Sequence[Outcome] | None]
# The follow-up run on the loop itself (it must not block it: asyncio I/O).
ThenAsync = Callable[[Sequence[AcceptResult]], Awaitable[object]]

log = logging.getLogger(__name__)


class GroupCommit:
    """Stores what concurrent callers hand it, batched while the previous store runs.

    Lives on one event loop (no locks needed there); the blocking store runs on `executor`
    (None: the loop's default one), one batch at a time. Every waiting caller gets its own
    result or exception; a store that raises fails every caller of its batch.

    How long a store waits for more: `coming`, when given, counts the callers known to be on
    their way (SMTP sessions inside a mail transaction that have not handed their mail yet); the
    store waits for them, at most `linger`, and not at all when none is coming. Without it the
    store waits, under load only (the last store held more than one), for as many as the last.

    `now`, when given, is tried first, on the loop itself: a store that answers at once or
    says it would wait (None), and then the store runs on the executor as without it. Handing
    a store to a thread and back costs the process as much CPU as the store itself (issue #20:
    +30 % SMTP mails a second on SQLite, +8 % on PostgreSQL, bench/intake.md round 8); only a
    server whose loop does nothing else that cannot wait one INSERT's answer should pass it
    (the SMTP server does).
    `then_async`, when given, is the follow-up as a coroutine, run on the loop instead of
    `then` on the executor, for the same reason (`then` still serves `finish`). `then_again`,
    when given, is what `finish` runs for the one a stop cut off on the loop (None: `then`, and
    a follow-up that Redis took before the stop is then done twice).
    """

    def __init__(
        self,
        store: StoreMany,
        executor: Executor | None = None,
        *,
        most: int = GROUP_MAX,
        linger: float = GROUP_LINGER,
        coming: Callable[[], int] | None = None,
        then: Then | None = None,
        now: Now | None = None,
        then_async: ThenAsync | None = None,
        then_again: Then | None = None,
    ) -> None:
        self.store = store
        self.now = now
        self.then_async = then_async
        self.then = then
        self.then_again = then_again
        self.unsent: list[AcceptResult] = []  # stored and answered, their follow-up still to run
        # Handed to `then_async`, which has not ended: done or not, nobody knows (see `finish`).
        self.unsure: list[AcceptResult] = []
        self.following: asyncio.Task[None] | None = None
        self.coming = coming
        self.executor = executor
        self.most = most
        self.linger = linger
        self.pending: list[tuple[Item, asyncio.Future[AcceptResult]]] = []
        self.draining: asyncio.Task[None] | None = None
        self.wanted = 0  # how many pending messages end the current wait
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
                wanted = self._wanted(last)
                if len(self.pending) < wanted:
                    await self._linger(wanted)
                batch, self.pending = self.pending[: self.most], self.pending[self.most :]
                items, last = [item for item, _ in batch], len(batch)
                outcomes: Sequence[Outcome] | None = None
                try:
                    if self.now is not None:
                        outcomes = self.now(items)
                    if outcomes is None:
                        outcomes = await loop.run_in_executor(self.executor, self.store, items)
                except Exception as exc:  # the whole transaction failed: nothing was stored
                    outcomes = [exc] * len(batch)
                stored = [o for o in outcomes if not isinstance(o, Exception)]
                if self.then is not None and stored:
                    if len(batch) > 1 or self.pending or self.following is not None:
                        self._follow_later(stored)  # under load: answered at its commit
                    else:
                        await self._follow(stored)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # the caller went away meanwhile
                        continue
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self.draining = None

    async def _follow(self, stored: list[AcceptResult]) -> None:
        assert self.then is not None
        try:
            if self.then_async is None:  # a cancelled wait leaves the executor's run going
                await asyncio.get_running_loop().run_in_executor(self.executor, self.then, stored)
            else:
                # Kept as unsure until it ends, not put back when cancelled: a stopping loop
                # may close before the cancellation reaches this frame, and one cancelled while
                # it waited for Redis's answer may be done (`finish`).
                self.unsure = stored
                await self.then_async(stored)
        except Exception:  # stored and answered: the sweeper enqueues what this left
            log.exception("the follow-up of %d stored messages failed", len(stored))
        self.unsure = []  # ended (a cancellation does not get here)

    def _follow_later(self, stored: list[AcceptResult]) -> None:
        self.unsent += stored
        if self.following is None:
            self.following = asyncio.get_running_loop().create_task(self._follow_unsent())

    async def _follow_unsent(self) -> None:
        try:
            while self.unsent:
                batch, self.unsent = self.unsent, []
                await self._follow(batch)
        finally:
            self.following = None

    def finish(self) -> None:
        """For a server whose loop has stopped (and cancelled its tasks): the follow-ups not yet
        handed to the executor run here, and the one the stop cut off on the loop through
        `then_again`: Redis may hold it already (cancelled while it waited for the answer), and
        `then` would queue its jobs a second time. What the executor holds, its shutdown
        finishes."""
        unsure, self.unsure = self.unsure, []
        batch, self.unsent = self.unsent, []
        for follow, results in ((self.then_again or self.then, unsure), (self.then, batch)):
            if results and follow is not None:
                try:
                    follow(results)
                except Exception:
                    log.exception("the follow-up of %d stored messages failed", len(results))

    def _wanted(self, last: int) -> int:
        """How many pending messages the next store is worth waiting for."""
        if self.coming is not None:
            return min(self.most, len(self.pending) + self.coming())
        return last if last > 1 else 0

    async def _linger(self, wanted: int) -> None:
        self.wanted = wanted
        self.enough.clear()
        try:
            await asyncio.wait_for(self.enough.wait(), self.linger)
        except TimeoutError:
            pass
        finally:
            self.wanted = 0


def on_loop_of(accept: Accept) -> tuple[Now | None, ThenAsync | None, Then | None]:
    """What of the store and its follow-up `accept` can run on the loop itself, if anything
    (Intake: `store_many_now`, which says when it would wait, and `enqueue_stored_async`), and
    the follow-up for one a stop cut off there (Intake: `enqueue_missing`)."""
    return (
        getattr(accept, "store_many_now", None),
        getattr(accept, "enqueue_stored_async", None),
        getattr(accept, "enqueue_missing", None),
    )


def halves_of(accept: Accept) -> tuple[StoreMany, Then | None]:
    """The store and its follow-up when `accept` offers them apart (Intake: `store_many`, then
    `enqueue_stored`); otherwise `store_many_of(accept)`, with nothing to follow."""
    store, then = getattr(accept, "store_many", None), getattr(accept, "enqueue_stored", None)
    if store is not None and then is not None:
        return store, then
    return store_many_of(accept), None


def store_many_of(accept: Accept) -> StoreMany:
    """Intake's group commit when it has one; otherwise `accept` once per message."""
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
