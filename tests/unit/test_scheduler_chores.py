"""Background loops stop when cancelled, even as their sleep ends.

``asyncio.wait_for`` on Python 3.11 returns normally when its task is cancelled in the loop
iteration in which the awaited sleep completes: the cancellation is lost and a loop that sleeps
that way runs on after ``stop()``. These tests end a sleep and cancel the loop in the same
iteration, deterministically.
"""

from __future__ import annotations

import asyncio
import logging

from mainspring.clock import Clock
from mainspring.lease.chores import Chore, run_chores, sleep_until_at_most

log = logging.getLogger("test")


class SteppedClock(Clock):
    """A clock standing still, whose sleeps end when the test says."""

    def __init__(self) -> None:
        self.sleeping: asyncio.Future[None] | None = None

    def now_ms(self) -> float:
        return 0.0

    async def sleep_until(self, when_ms: float) -> None:
        self.sleeping = asyncio.get_running_loop().create_future()
        await self.sleeping


async def _nothing() -> None:
    pass


async def _cancelled_as_its_sleep_ends(task: asyncio.Task[None], clock: SteppedClock) -> bool:
    """End ``task``'s current sleep and cancel it at once; whether it stopped (bounded)."""
    for _ in range(100):
        if clock.sleeping is not None:
            break
        await asyncio.sleep(0)
    assert clock.sleeping is not None, "the loop never slept"
    clock.sleeping.set_result(None)
    task.cancel()  # in the same iteration: the task has not resumed yet
    done, _ = await asyncio.wait([task], timeout=2)
    if not done:  # before the fix: cancel again (mid-sleep now, so it is not lost) and fail
        task.cancel()
        await asyncio.wait([task], timeout=2)
    return bool(done) and task.cancelled()


async def test_run_chores_stops_when_cancelled_as_its_sleep_ends() -> None:
    clock = SteppedClock()
    chores = [Chore("nothing", 1000, _nothing, first_after_ms=1000)]
    task = asyncio.create_task(run_chores(clock, chores, log))
    assert await _cancelled_as_its_sleep_ends(task, clock)


async def test_sleep_until_at_most_passes_a_cancellation_on() -> None:
    clock = SteppedClock()

    async def sleeps_forever() -> None:
        while True:
            clock.sleeping = None
            await sleep_until_at_most(clock, 1000, 60)

    task = asyncio.create_task(sleeps_forever())
    assert await _cancelled_as_its_sleep_ends(task, clock)


async def test_sleep_until_at_most_is_bounded_in_real_time() -> None:
    clock = SteppedClock()  # never advanced
    await asyncio.wait_for(sleep_until_at_most(clock, 1000, 0.05), timeout=5)
