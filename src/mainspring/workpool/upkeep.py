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

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

__all__ = ["DAY_MS", "DispatcherOptions", "Upkeep"]

log = logging.getLogger("mainspring.workpool")

DAY_MS = 24 * 60 * 60 * 1000.0


@dataclass(frozen=True)
class DispatcherOptions:
    """How one process runs work items.

    ``concurrency`` bounds the items this process runs at once (each pool's own cap holds
    across processes). A running item holds a lease of ``lease_ms``; ``poll_ms`` is the safety
    net when no wake-up arrives, ``capped_poll_ms`` how often a full pool is looked at again
    for slots other processes freed. Finished items are deleted ``retention_ms`` after they
    finished. On shutdown, running items get ``shutdown_grace_ms`` to finish.
    """

    concurrency: int = 64
    lease_ms: float = 10_000.0
    poll_ms: float = 5_000.0
    capped_poll_ms: float = 100.0
    retention_ms: float = DAY_MS
    prune_every_ms: float = 10 * 60 * 1000.0
    prune_batch: int = 500
    claim_batch: int = 256
    shutdown_grace_ms: float = 10_000.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.lease_ms < 100:
            raise ValueError("lease_ms must be at least 100")

    @property
    def heartbeat_ms(self) -> float:
        """How often running items' leases are renewed."""
        return self.lease_ms / 4


class Upkeep:
    """Heartbeats, reaping and pruning for one dispatcher."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    async def run(self) -> None:
        """Do each chore when it is due, until cancelled."""
        dispatcher = self._dispatcher
        clock, options = dispatcher.runtime.clock, dispatcher.options
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
                await self._chore("pruning finished items", self.prune)
            wake = min(next_beat, next_reap, next_prune)
            # Real time bounds the wait too: a virtual clock may never be advanced.
            timeout = max(0.0, (wake - clock.now_ms()) / 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(clock.sleep_until(wake), timeout=timeout + 0.05)

    async def _chore(self, what: str, chore: Callable[[], Awaitable[object]]) -> None:
        try:
            await chore()
        except Exception as exc:
            log.warning("work pool upkeep: %s failed: %s", what, exc)

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
