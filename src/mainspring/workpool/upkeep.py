"""The dispatcher's options and periodic chores: renew leases, settle dead processes' items,
prune finished ones.

* **Heartbeats** every ``lease_ms / 4`` extend the lease of items that would otherwise expire
  soon (short work never needs one).
* **Reaping** every ``lease_ms / 2`` settles running items whose lease expired — their process
  died or hung — so a dead worker's work is retried or finished within about 1.5 leases.
* **Pruning** every ``prune_every_ms`` deletes items finished more than ``retention_ms`` ago.

Every dispatcher does every chore; they are idempotent and check what they change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..scheduling.chores import Chore, run_chores
from ..scheduling.service import DAY_MS, ExecutorOptions

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

__all__ = ["DAY_MS", "DispatcherOptions", "Upkeep"]

log = logging.getLogger("mainspring.workpool")


@dataclass(frozen=True)
class DispatcherOptions(ExecutorOptions):
    """How one process runs work items: the executor's options (see
    :class:`~mainspring.scheduling.service.ExecutorOptions`), with other defaults, plus
    ``capped_poll_ms``: how often a full pool is looked at again for slots other processes
    freed. ``concurrency`` bounds the items this process runs at once (each pool's own cap
    holds across processes)."""

    concurrency: int = 64
    retention_ms: float = DAY_MS
    capped_poll_ms: float = 100.0


class Upkeep:
    """Heartbeats, reaping and pruning for one dispatcher."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    async def run(self) -> None:
        """Do each chore when it is due, until cancelled."""
        options = self._dispatcher.options
        await run_chores(
            self._dispatcher.runtime.clock,
            [
                Chore(
                    "renewing leases", options.heartbeat_ms, self.heartbeat, options.heartbeat_ms
                ),
                # At start-up too: settle what a previous run of this process left.
                Chore("settling expired leases", options.lease_ms / 2, self.reap),
                Chore(
                    "pruning finished items",
                    options.prune_every_ms,
                    self.prune,
                    min(options.prune_every_ms, 60_000.0),
                ),
            ],
            log,
        )

    async def heartbeat(self) -> None:
        """Renew the leases that would expire before the next heartbeat but one."""
        dispatcher = self._dispatcher
        soon = dispatcher.runtime.clock.now_ms() + dispatcher.options.heartbeat_ms * 2
        due = {i: item for i, item in dispatcher.running.items() if item.lease_expires < soon}
        if due:
            expires = await dispatcher.store.heartbeat(list(due))
            for item in due.values():
                item.lease_expires = expires

    async def reap(self) -> int:
        """Settle items whose lease expired; how many."""
        settled = await self._dispatcher.store.reap()
        if settled:
            log.warning("settled %d work items whose process died", settled)
        return settled

    async def prune(self, batch: int | None = None) -> int:
        """Delete finished items older than the retention period, in batches; how many."""
        options = self._dispatcher.options
        batch = batch or options.prune_batch
        cutoff = self._dispatcher.runtime.clock.now_ms() - options.retention_ms
        total = await self._dispatcher.store.prune(cutoff, batch)
        if total:
            log.info("pruned %d finished work items", total)
        return total
