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
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

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
        executor = self._executor
        clock, options = executor.runtime.clock, executor.options
        now = clock.now_ms()
        next_beat = now + options.heartbeat_ms
        next_reap = now  # at start-up: settle what a previous run of this process left
        next_prune = now + min(options.prune_every_ms, 60_000.0)
        while True:
            now = clock.now_ms()
            if now >= next_beat:
                next_beat = now + options.heartbeat_ms
                await self._chore("renewing leases", self.heartbeat)
            if now >= next_reap:
                next_reap = now + options.lease_ms / 2
                await self._chore("settling expired leases", self.reap)
            if now >= next_prune:
                next_prune = now + options.prune_every_ms
                await self._chore("pruning finished rows", self.prune)
            wake = min(next_beat, next_reap, next_prune)
            # Real time bounds the wait too: a virtual clock may never be advanced.
            timeout = max(0.0, (wake - clock.now_ms()) / 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(clock.sleep_until(wake), timeout=timeout + 0.05)

    async def _chore(self, what: str, chore: Callable[[], Awaitable[object]]) -> None:
        try:
            await chore()
        except Exception as exc:
            log.warning("scheduler upkeep: %s failed: %s", what, exc)

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
