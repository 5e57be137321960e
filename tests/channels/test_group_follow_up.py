"""GroupCommit's follow-up (the enqueue after the commit): a lone message is answered after it, a
group at its commit with the follow-up behind the answers, one follow-up at a time."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from channels.group_commit import GroupCommit, Item, Outcome
from models.types import AcceptResult, Channel, IncomingMessage, MessageStatus


def message(i: int) -> IncomingMessage:
    return IncomingMessage(channel=Channel.webform, external_id=f"m{i}", text=f"text {i}")


class Recorder:
    """A store that numbers what it stores, and a follow-up that can be held and can fail."""

    def __init__(self) -> None:
        self.stores: list[list[str]] = []
        self.follows: list[list[int]] = []
        self.release = threading.Event()
        self.release.set()
        self.running = 0
        self.most_running = 0
        self.fail_follow = False
        self.fail_store = False
        self.lock = threading.Lock()

    def store(self, items: Sequence[Item]) -> list[Outcome]:
        if self.fail_store:
            raise ConnectionError("database is down")
        self.stores.append([m.external_id for m, _ in items])
        return [
            AcceptResult(
                message_id=int(m.external_id[1:]), duplicate=False, status=MessageStatus.queued
            )
            for m, _ in items
        ]

    def then(self, results: Sequence[AcceptResult]) -> None:
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            assert self.release.wait(10)
            if self.fail_follow:
                raise RuntimeError("redis went away")
            self.follows.append([r.message_id for r in results])
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(4)
    yield pool
    pool.shutdown(wait=True)


def together(group: GroupCommit, ids: range) -> asyncio.Future[list[AcceptResult]]:
    """Submitted in one turn of the loop: they wait for the same store."""
    return asyncio.gather(*(group.submit(message(i), None) for i in ids))


async def settled(group: GroupCommit) -> None:
    while group.following is not None:
        await asyncio.sleep(0.005)


def test_a_lone_message_is_answered_after_its_follow_up(executor: ThreadPoolExecutor) -> None:
    rec = Recorder()

    async def run() -> None:
        group = GroupCommit(rec.store, executor, then=rec.then)
        result = await group.submit(message(1), None)
        assert result.message_id == 1
        assert rec.follows == [[1]]  # enqueued before the answer, as one `accept` does
        assert group.following is None

    asyncio.run(run())


def test_a_group_is_answered_at_its_commit_and_followed_behind(
    executor: ThreadPoolExecutor,
) -> None:
    rec = Recorder()
    rec.release.clear()  # the follow-up (Redis) is slow

    async def run() -> None:
        group = GroupCommit(rec.store, executor, then=rec.then)
        results = await asyncio.wait_for(together(group, range(1, 4)), 5)
        assert [r.message_id for r in results] == [1, 2, 3]
        assert rec.stores == [["m1", "m2", "m3"]] and rec.follows == []  # answered first
        rec.release.set()
        await settled(group)
        assert rec.follows == [[1, 2, 3]]

    asyncio.run(run())


def test_follow_ups_run_one_at_a_time_each_taking_what_the_last_left(
    executor: ThreadPoolExecutor,
) -> None:
    rec = Recorder()
    rec.release.clear()

    async def run() -> None:
        group = GroupCommit(rec.store, executor, then=rec.then)
        await together(group, range(1, 3))
        await together(group, range(3, 5))  # stored while the first follow-up still runs
        await together(group, range(5, 8))
        assert len(rec.stores) == 3 and rec.follows == []
        rec.release.set()
        await settled(group)
        # the first group's follow-up, then one for everything stored meanwhile
        assert rec.follows == [[1, 2], [3, 4, 5, 6, 7]]
        assert rec.most_running == 1

    asyncio.run(run())


def test_a_failed_follow_up_is_logged_and_the_stored_are_still_answered(
    executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    rec.fail_follow = True

    async def run() -> None:
        group = GroupCommit(rec.store, executor, then=rec.then)
        assert (await group.submit(message(1), None)).message_id == 1
        assert [r.message_id for r in await together(group, range(2, 4))] == [2, 3]
        await settled(group)

    with caplog.at_level(logging.ERROR, logger="channels.group_commit"):
        asyncio.run(run())
    assert len([r for r in caplog.records if "follow-up" in r.getMessage()]) == 2


def test_a_failed_store_has_no_follow_up(executor: ThreadPoolExecutor) -> None:
    rec = Recorder()
    rec.fail_store = True

    async def run() -> None:
        group = GroupCommit(rec.store, executor, then=rec.then)
        answers = await asyncio.gather(
            *(group.submit(message(i), None) for i in range(3)), return_exceptions=True
        )
        assert all(isinstance(a, ConnectionError) for a in answers)
        await settled(group)

    asyncio.run(run())
    assert rec.follows == [] and rec.most_running == 0


def test_finish_runs_the_follow_ups_a_stopped_loop_never_handed_over(
    executor: ThreadPoolExecutor,
) -> None:
    rec = Recorder()
    rec.release.clear()
    group: GroupCommit | None = None

    async def run() -> None:
        nonlocal group
        group = GroupCommit(rec.store, executor, then=rec.then)
        await together(group, range(1, 3))  # its follow-up is in the executor, held
        await together(group, range(3, 6))  # waiting behind it, not handed over yet
        assert group.unsent and group.following is not None
        group.following.cancel()  # what a stopping server does to its tasks

    asyncio.run(run())
    assert group is not None
    rec.release.set()
    executor.shutdown(wait=True)  # the executor finishes the follow-up it holds
    group.finish()  # and the rest runs here
    assert sorted(rec.follows) == [[1, 2], [3, 4, 5]] and group.unsent == []


def test_a_lone_message_behind_a_running_follow_up_goes_after_it(
    executor: ThreadPoolExecutor,
) -> None:
    rec = Recorder()
    rec.release.clear()

    async def run() -> None:
        group = GroupCommit(rec.store, executor, then=rec.then)
        await together(group, range(1, 3))
        # answered at its commit too: still under load, and never two follow-ups at once
        assert (await asyncio.wait_for(group.submit(message(3), None), 5)).message_id == 3
        rec.release.set()
        await settled(group)
        assert rec.follows == [[1, 2], [3]] and rec.most_running == 1

    asyncio.run(run())


def test_an_asyncio_follow_up_runs_on_the_loop_and_finish_runs_one_the_stop_cancelled(
    executor: ThreadPoolExecutor,
) -> None:
    rec = Recorder()
    hold = asyncio.Event()
    ran: list[list[int]] = []
    group: GroupCommit | None = None

    async def then_async(results: Sequence[AcceptResult]) -> None:
        await hold.wait()
        ran.append([r.message_id for r in results])

    async def run() -> None:
        nonlocal group
        group = GroupCommit(rec.store, executor, then=rec.then, then_async=then_async)
        hold.set()
        assert (await group.submit(message(1), None)).message_id == 1  # lone: after its follow-up
        assert ran == [[1]] and rec.follows == []  # on the loop, not the sync one
        hold.clear()
        await together(group, range(2, 4))  # answered at the commit, its follow-up held
        assert group.following is not None and group.unsent == []
        group.following.cancel()  # what a stopping server does to its tasks
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(run())
    assert group is not None and group.unsure != []
    group.finish()  # the cancelled one runs here, through the sync follow-up
    assert ran == [[1]] and rec.follows == [[2, 3]] and group.unsure == group.unsent == []


def test_finish_hands_the_follow_up_cut_off_on_the_loop_to_then_again(
    executor: ThreadPoolExecutor,
) -> None:
    """aiosmtpd's stop cancels the loop's tasks and closes the loop a turn later: the follow-up
    on the loop may never see its cancellation, and may be done (Redis took it, its answer was
    on the way). `finish` runs it all the same, through `then_again` (which leaves what is done
    as it is), and what was still unsent through `then`."""
    rec = Recorder()
    hold = asyncio.Event()
    again: list[list[int]] = []
    loop = asyncio.new_event_loop()

    async def then_async(results: Sequence[AcceptResult]) -> None:
        await hold.wait()

    group = GroupCommit(
        rec.store,
        executor,
        then=rec.then,
        then_async=then_async,
        then_again=lambda results: again.append([r.message_id for r in results]),
    )

    async def run() -> None:
        await together(group, range(1, 3))  # answered at the commit, its follow-up held
        await together(group, range(3, 5))  # waiting behind it
        assert group.following is not None and group.unsent != []

    try:
        loop.run_until_complete(run())
        group.finish()  # the loop has not run the follow-up's frame again
        assert again == [[1, 2]] and rec.follows == [[3, 4]]
        assert group.unsure == group.unsent == []
    finally:
        hold.set()  # let the held follow-up end, so the loop closes with nothing pending
        loop.run_until_complete(settled(group))
        loop.close()
