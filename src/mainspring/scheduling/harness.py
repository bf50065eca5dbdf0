"""Scheduled functions in the test harness: run on demand, in virtual time.

Nothing runs in the background in a :class:`~mainspring.testing.TestApp`: a test says when
time passes and when scheduled functions run, so what it observes is deterministic. The
functions run through the real executor code (claims, leases, outcomes), one at a time by
default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .executor import Executor
from .service import ExecutorOptions

if TYPE_CHECKING:
    from ..clock import VirtualClock
    from ..runtime import Runtime

__all__ = ["EndlessSchedulingError", "ScheduledDriver"]


class EndlessSchedulingError(RuntimeError):
    """Scheduled functions kept scheduling more beyond the allowed number of rounds."""


class ScheduledDriver:
    """Runs a runtime's scheduled functions when a test asks, on a virtual clock."""

    def __init__(self, runtime: Runtime, clock: VirtualClock, *, concurrency: int = 1) -> None:
        self.clock = clock
        self.executor = Executor(runtime, ExecutorOptions(concurrency=concurrency))

    async def run_due(self, max_iterations: int) -> int:
        """Run what is due now, and what that schedules for now, until nothing is due."""
        total = 0
        for _ in range(max_iterations):
            ran = await self.executor.run_due()
            if not ran:
                return total
            total += ran
        if await self._due_now():
            raise EndlessSchedulingError(
                f"scheduled functions were still due after {max_iterations} rounds "
                "(a function that keeps scheduling itself?)"
            )
        return total

    async def _due_now(self) -> bool:
        upcoming = await self.executor.jobs.next_pending()
        return upcoming is not None and upcoming <= self.clock.now_ms()

    async def advance_time(self, ms: float, max_iterations: int) -> int:
        """Move time forward by ``ms``, stopping at each due time on the way to run what is
        due then (in time order); how many functions ran."""
        if ms < 0:
            raise ValueError("time cannot go backwards")
        target = self.clock.now_ms() + ms
        total = await self.run_due(max_iterations)
        for _ in range(max_iterations):
            upcoming = await self.executor.jobs.next_pending()
            if upcoming is None or upcoming > target:
                break
            self.clock.set(max(upcoming, self.clock.now_ms()))
            total += await self.run_due(max_iterations)
        else:
            raise EndlessSchedulingError(
                f"more than {max_iterations} rounds of scheduled functions within {ms:g} ms"
            )
        self.clock.set(target)
        return total + await self.run_due(max_iterations)

    async def finish_all(self, max_iterations: int) -> int:
        """Run every scheduled function, moving time to each one's time, including those they
        schedule; EndlessSchedulingError after ``max_iterations`` rounds."""
        total = 0
        for _ in range(max_iterations):
            total += await self.run_due(max_iterations)
            upcoming = await self.executor.jobs.next_pending()
            if upcoming is None:
                return total
            self.clock.set(max(upcoming, self.clock.now_ms()))
        raise EndlessSchedulingError(
            f"scheduled functions were still pending after {max_iterations} rounds "
            "(a chain that never ends?)"
        )
