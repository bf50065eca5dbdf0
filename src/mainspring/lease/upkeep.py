"""An engine's periodic chores: renew leases, settle dead processes' rows, prune old ones.

* **Heartbeats** every ``lease_ms / 4`` extend the lease of rows that would otherwise expire
  soon. Work that finishes within half a lease never needs one, so short work (the common
  case) costs no heartbeat writes — and no conflicts with its own completion.
* **Reaping** every ``lease_ms / 2`` settles running rows whose lease expired — their process
  died or hung — so a dead process's work is retried or failed within about 1.5 leases.
* **Pruning** every ``prune_every_ms`` deletes rows finished more than ``retention_ms`` ago.

Every engine does every chore; they are idempotent and check what they change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from .chores import Chore, run_chores

if TYPE_CHECKING:
    from ..kernel import Kernel
    from .options import LeaseOptions
    from .store import LeaseStore


class _Lease(Protocol):
    lease_expires: float


class Upkept(Protocol):
    """What the chores look after: an engine's store and the rows it runs."""

    kernel: Kernel
    store: LeaseStore[Any]
    options: LeaseOptions
    log: logging.Logger

    @property
    def running(self) -> Mapping[str, _Lease]: ...


__all__ = ["Upkeep"]


class Upkeep:
    """Heartbeats, reaping and pruning for one engine."""

    def __init__(self, engine: Upkept) -> None:
        self._engine = engine

    async def run(self) -> None:
        """Do each chore when it is due, until cancelled."""
        options = self._engine.options
        await run_chores(
            self._engine.kernel.clock,
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
            self._engine.log,
        )

    async def heartbeat(self) -> None:
        """Renew the leases that would expire before the next heartbeat but one."""
        engine = self._engine
        soon = engine.kernel.clock.now_ms() + engine.options.heartbeat_ms * 2
        due = {run_id: run for run_id, run in engine.running.items() if run.lease_expires < soon}
        if due:
            expires = await engine.store.heartbeat(list(due))
            for run in due.values():
                run.lease_expires = expires

    async def reap(self) -> int:
        """Settle rows whose lease expired; how many."""
        engine = self._engine
        settled = await engine.store.reap()
        if settled:
            engine.log.warning("settled %d %s whose process died", settled, engine.store.what)
        return settled

    async def prune(self, batch: int | None = None) -> int:
        """Delete finished rows older than the retention period, in batches; how many."""
        engine = self._engine
        batch = batch or engine.options.prune_batch
        cutoff = engine.kernel.clock.now_ms() - engine.options.retention_ms
        total = 0
        while True:
            deleted = await engine.store.prune(cutoff, batch)
            total += deleted
            if deleted < batch:
                break
            await asyncio.sleep(0)  # let other work run between batches
        if total:
            engine.log.info("pruned %d finished %s", total, engine.store.what)
        return total
