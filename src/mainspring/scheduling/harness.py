"""Scheduled functions in the test harness: run on demand, in virtual time.

Nothing runs in the background in a :class:`~mainspring.testing.TestApp`: a test says when
time passes and when scheduled functions run, so what it observes is deterministic. The
functions run through the real executor code (claims, leases, outcomes), one at a time by
default.

Other time-driven services (crons, work pools) join in as :class:`HarnessParticipant`\\ s:
time stops at each one's next due time as it does at each scheduled function's, and their
due work runs in the same rounds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from ..lease.options import SCHEDULED_FUNCTIONS
from .executor import Executor

if TYPE_CHECKING:
    from ..clock import VirtualClock
    from .service import SchedulingKernel

__all__ = ["EndlessSchedulingError", "HarnessParticipant", "ScheduledDriver"]


class EndlessSchedulingError(RuntimeError):
    """Scheduled functions kept scheduling more beyond the allowed number of rounds."""


class HarnessParticipant(Protocol):
    """A service the harness drives instead of running it in the background."""

    #: True for work that never runs out (crons): ``finish_all_scheduled`` does not wait for it.
    endless: bool

    async def next_due(self) -> float | None:
        """When this service next has work (ms since the epoch), or None."""
        ...

    async def run_due(self) -> int:
        """Do what is due now; how many functions it ran itself.

        Work it hands to the scheduler (a cron's firing) runs, and is counted, in the
        scheduler's part of the same round."""
        ...


class ScheduledDriver:
    """Runs a runtime's scheduled functions when a test asks, on a virtual clock."""

    def __init__(
        self, runtime: SchedulingKernel, clock: VirtualClock, *, concurrency: int = 1
    ) -> None:
        self.clock = clock
        self.executor = Executor(runtime, replace(SCHEDULED_FUNCTIONS, concurrency=concurrency))
        #: Crons, work pools: driven in the same rounds as scheduled functions.
        self.participants: list[HarnessParticipant] = []

    async def _round(self) -> int:
        ran = 0
        for participant in self.participants:
            ran += await participant.run_due()
        return ran + await self.executor.run_due()

    async def _next_due(self, *, endless: bool = True) -> float | None:
        times = [await self.executor.jobs.next_pending()]
        times += [
            await participant.next_due()
            for participant in self.participants
            if endless or not participant.endless
        ]
        known = [t for t in times if t is not None]
        return min(known) if known else None

    async def run_due(self, max_iterations: int) -> int:
        """Run what is due now, and what that schedules for now, until nothing is due."""
        total = 0
        for _ in range(max_iterations):
            ran = await self._round()
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
        upcoming = await self._next_due()
        return upcoming is not None and upcoming <= self.clock.now_ms()

    async def advance_time(self, ms: float, max_iterations: int) -> int:
        """Move time forward by ``ms``, stopping at each due time on the way to run what is
        due then (in time order); how many functions ran.

        ``max_iterations`` bounds the rounds at one instant; the stops on the way are
        bounded only by what is due (a day of a 15-minute cron is 96 stops)."""
        if ms < 0:
            raise ValueError("time cannot go backwards")
        target = self.clock.now_ms() + ms
        total = await self.run_due(max_iterations)
        while True:
            upcoming = await self._next_due()
            if upcoming is None or upcoming > target:
                break
            before = self.clock.now_ms()
            self.clock.set(max(upcoming, before))
            ran = await self.run_due(max_iterations)
            if not ran and upcoming <= before:
                raise EndlessSchedulingError(
                    f"work due at {upcoming:.0f} ms did not run (nothing could be done with it)"
                )
            total += ran
        self.clock.set(target)
        return total + await self.run_due(max_iterations)

    async def finish_all(self, max_iterations: int) -> int:
        """Run every scheduled function, moving time to each one's time, including those they
        schedule; EndlessSchedulingError after ``max_iterations`` rounds.

        Crons fire forever, so they are not waited for here (those due on the way fire):
        use :meth:`advance_time` to let crons fire on schedule."""
        total = 0
        for _ in range(max_iterations):
            total += await self.run_due(max_iterations)
            upcoming = await self._next_due(endless=False)
            if upcoming is None:
                return total
            self.clock.set(max(upcoming, self.clock.now_ms()))
        raise EndlessSchedulingError(
            f"scheduled functions were still pending after {max_iterations} rounds "
            "(a chain that never ends?)"
        )
