"""Periodic chores on the runtime's clock: the upkeep loop of executors and dispatchers.

Each chore runs when due, then again ``every_ms`` later; a failing chore is logged and tried
again on its next turn. Sleeping goes through the injected clock (tests move time instead of
waiting), bounded by real time as well, since a virtual clock may never be advanced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..clock import Clock

__all__ = ["Chore", "run_chores", "sleep_until_at_most", "stop_loops"]


@dataclass(frozen=True)
class Chore:
    """``run`` every ``every_ms``, the first time ``first_after_ms`` after the start."""

    what: str
    every_ms: float
    run: Callable[[], Awaitable[object]]
    first_after_ms: float = 0.0


async def run_chores(clock: Clock, chores: Sequence[Chore], log: logging.Logger) -> None:
    """Do each chore when it is due, until cancelled."""
    start = clock.now_ms()
    due = [start + chore.first_after_ms for chore in chores]
    while True:
        now = clock.now_ms()
        for n, chore in enumerate(chores):
            if now >= due[n]:
                due[n] = now + chore.every_ms
                try:
                    await chore.run()
                except Exception as exc:
                    log.warning("%s failed: %s", chore.what, exc)
        wake = min(due)
        timeout = max(0.0, (wake - clock.now_ms()) / 1000)
        await sleep_until_at_most(clock, wake, timeout + 0.05)


async def sleep_until_at_most(clock: Clock, when_ms: float, timeout_s: float) -> None:
    """Sleep until ``when_ms`` on ``clock``, or for ``timeout_s`` of real time if sooner.

    For loops that are stopped by cancelling them. Not ``asyncio.wait_for``: before Python
    3.12 it swallows a cancellation that arrives in the loop iteration in which the sleep
    ends (it returns normally), so the loop sleeps again and outlives the ``cancel()``. An
    executor's upkeep was left running after ``stop()`` in about 2% of stops, and whatever
    then waits for it without a bound hangs with the event loop idle: ``asyncio.Runner``'s
    close (pytest-asyncio's loop teardown) cancels each task once and waits for them all.
    ``asyncio.timeout`` awaits in the caller's own task and tells its expiry apart from a
    cancellation.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await clock.sleep_until(when_ms)


async def stop_loops(
    tasks: Sequence[asyncio.Task[None]], timeout_s: float, log: logging.Logger
) -> None:
    """Stop a dispatch loop (``tasks[0]``, already told to stop) and its chores (the rest).

    The chores are cancelled; the dispatch loop is waited for, not cancelled, so that a claim
    in flight commits and its work is settled by the caller (cancelled mid-claim, claimed
    work would wait for its lease to expire). Every wait is bounded: a task stuck in a
    driver must not hang shutdown.
    """
    if not tasks:
        return
    dispatch, *chores = tasks
    for task in chores:
        task.cancel()
    if not (await asyncio.wait([dispatch], timeout=timeout_s))[0]:
        dispatch.cancel()
    _, stuck = await asyncio.wait(tasks, timeout=timeout_s)
    for task in stuck:
        log.warning("%s did not stop in time; left behind", task.get_name())
