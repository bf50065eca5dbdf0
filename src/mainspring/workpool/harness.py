"""Work pools in the test harness: due items run when a test moves time, in virtual time.

:class:`WorkpoolDriver` joins :class:`~mainspring.scheduling.harness.ScheduledDriver` as a
participant, so ``advance_time`` stops at each item's ``runAt`` (retries after their backoff
included) and runs what is due through the real dispatcher code — claims under the pool's
cap, outcomes, retries, ``on_complete`` — one item at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .dispatcher import Dispatcher

if TYPE_CHECKING:
    from .hub import PoolsKernel

__all__ = ["WorkpoolDriver"]


class WorkpoolDriver:
    """A :class:`~mainspring.scheduling.harness.HarnessParticipant` for the work pools."""

    #: Work pools run out of work: ``finish_all_scheduled`` waits for them.
    endless = False

    def __init__(self, runtime: PoolsKernel) -> None:
        self.dispatcher = Dispatcher(runtime)

    async def next_due(self) -> float | None:
        """The earliest ``runAt`` of pending work in an unpaused pool."""
        return await self.dispatcher.store.next_due()

    async def run_due(self) -> int:
        """Run the items due now (within each pool's cap); how many ran."""
        return await self.dispatcher.run_due(one_at_a_time=True)

    async def reap(self) -> int:
        """Settle running items whose lease expired (a test of a dead process's work)."""
        return await self.dispatcher.reap()

    async def prune(self) -> int:
        """Delete finished items older than the retention period; how many."""
        return await self.dispatcher.prune()
