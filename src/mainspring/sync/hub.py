"""The sync service of a runtime: live queries, the commit clock, and the commit feed.

:func:`attach_sync` wires it in: every commit of the runtime (HTTP calls, scheduled
functions, crons, socket mutations alike) invalidates the live queries it may change, and
on PostgreSQL commits of other processes do too (:mod:`mainspring.sync.fanout`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..db.store import WriteSet
from . import session_requests
from .changes import Changes
from .commit_clock import CommitClock
from .fanout import Fanout
from .live_queries import LiveQueries, SyncKernel

__all__ = ["SyncHub", "attach_sync"]

log = logging.getLogger("mainspring.sync")

_CLOCK_META = "sync_clock"
#: How often old ``_session_requests`` rows are looked for.
PRUNE_EVERY_S = 300.0


class SyncHub:
    """Shared by every connection of one process."""

    def __init__(self, runtime: SyncKernel) -> None:
        self.runtime = runtime
        self.clock = CommitClock(runtime.clock)
        self.queries = LiveQueries(runtime)
        self.fanout = Fanout(self)
        self.connections = 0
        #: Event-loop time of this process's latest commit (SQLite tells others' apart by it).
        self.last_commit = float("-inf")
        self._prune: asyncio.Task[None] | None = None

    def committed(self, writes: WriteSet) -> None:
        """A commit of this process: invalidate the live queries it may change."""
        self.last_commit = asyncio.get_running_loop().time()
        if len(self.queries):
            self.queries.apply(Changes.of(writes))

    def connected(self) -> None:
        """A socket opened."""
        self.connections += 1
        if self.connections == 1:
            self.fanout.subscribers_appeared()

    def disconnected(self) -> None:
        """A socket closed."""
        self.connections -= 1

    async def start(self) -> None:
        """Start the clock above the last run's, and the commit feed."""
        async with self.runtime.database.transaction(write=False) as tx:
            stored = await tx.get_meta(_CLOCK_META)
        if stored is not None and stored.isdigit():
            self.clock.observe(int(stored))
        await self.fanout.start()
        self._prune = asyncio.create_task(self._prune_loop(), name="sync prune")

    async def stop(self) -> None:
        """Stop the feed; remember the clock for the next start."""
        if self._prune is not None:
            self._prune.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prune
        await self.fanout.stop()
        if self.clock.last:
            try:
                async with self.runtime.database.transaction(write=True) as tx:
                    await tx.set_meta(_CLOCK_META, str(self.clock.now()))
            except Exception as exc:
                log.warning("could not store the sync clock: %s", exc)

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY_S)
            try:
                await session_requests.prune(self.runtime)
            except Exception as exc:
                log.warning("pruning old session requests failed: %s", exc)


def attach_sync(runtime: SyncKernel) -> SyncHub:
    """Give ``runtime`` a sync hub, started and stopped with it."""
    hub = SyncHub(runtime)
    runtime.on_commit(hub.committed)
    runtime.before_commit(hub.fanout.before_commit)
    runtime.add_service(hub)
    return hub
