"""The executor's periodic chores: renew leases, settle dead processes' rows, prune.

* **Heartbeats** every ``lease_ms / 4`` extend the lease of every row this process runs.
* **Reaping** every ``lease_ms / 2`` looks for ``inProgress`` rows whose lease expired —
  their process died or hung — and settles them (mutations back to ``pending``, actions
  ``failed``), so a dead worker's work is noticed within about 1.5 leases.
* **Pruning** every ``prune_every_ms`` deletes rows that finished more than
  ``retention_ms`` ago, ``prune_batch`` rows per transaction.

Every chore runs in every executor process; they are idempotent and their transactions
check what they change, so several processes doing them at once is only redundant.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .chores import Chore, run_chores

if TYPE_CHECKING:
    from .executor import Executor

__all__ = ["Upkeep"]

log = logging.getLogger("mainspring.scheduler")


class Upkeep:
    """Heartbeats, reaping and pruning for one executor."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def run(self) -> None:
        """Do each chore when it is due, until cancelled."""
        options = self._executor.options
        await run_chores(
            self._executor.runtime.clock,
            [
                Chore(
                    "renewing leases", options.heartbeat_ms, self.heartbeat, options.heartbeat_ms
                ),
                # At start-up too: settle what a previous run of this process left.
                Chore("settling expired leases", options.lease_ms / 2, self.reap),
                Chore(
                    "pruning finished rows",
                    options.prune_every_ms,
                    self.prune,
                    min(options.prune_every_ms, 60_000.0),
                ),
            ],
            log,
        )

    async def heartbeat(self) -> None:
        """Renew the leases that would expire before the next heartbeat but one.

        Functions that finish within half a lease never need a renewal, so short work (the
        common case) costs no heartbeat writes — and no conflicts with its own completion.
        """
        executor = self._executor
        now = executor.runtime.clock.now_ms()
        soon = now + executor.options.heartbeat_ms * 2
        due = {job_id: job for job_id, job in executor.running.items() if job.lease_expires < soon}
        if due:
            expires = await executor.jobs.heartbeat(list(due))
            for job in due.values():
                job.lease_expires = expires

    async def reap(self) -> int:
        """Settle rows whose lease expired; how many."""
        settled = await self._executor.jobs.reap()
        if settled:
            log.warning("settled %d scheduled functions whose process died", settled)
        return settled

    async def prune(self, batch: int | None = None) -> int:
        """Delete finished rows older than the retention period, in batches; how many."""
        options = self._executor.options
        batch = batch or options.prune_batch
        cutoff = self._executor.runtime.clock.now_ms() - options.retention_ms
        total = 0
        while True:
            deleted = await self._executor.jobs.prune(cutoff, batch)
            total += deleted
            if deleted < batch:
                break
            await asyncio.sleep(0)  # let other work run between batches
        if total:
            log.info("pruned %d finished scheduled functions", total)
        return total
