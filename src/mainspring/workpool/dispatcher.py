"""The dispatcher: claims due work items of every pool and runs them; a runtime service.

One per process (``mainspring worker``, and ``serve`` unless ``--scheduler off``). It sleeps
until the earliest pending ``runAt`` and wakes early when this process commits work (an
in-process announcement) or another one does (``LISTEN/NOTIFY`` on PostgreSQL); ``poll_ms``
is a safety net. A pool at its cap is retried when one of this process's items finishes, and
every ``capped_poll_ms`` for slots other processes free. Per process, at most
``concurrency`` items run at once, whatever the pools' caps.

The test harness drives the same code without background tasks: :meth:`Dispatcher.run_due`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import socket
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..db.base import Listening
from ..scheduling.chores import stop_loops
from ..scheduling.outcomes import Completer
from .claims import ItemStore, Outcome
from .hub import pool_names
from .items import NOTIFY_CHANNEL, STOPPED_ERROR, failed
from .runner import ItemRunner
from .upkeep import DispatcherOptions, Upkeep

if TYPE_CHECKING:
    from ..config import Settings
    from ..runtime import Runtime

__all__ = ["Dispatcher", "attach_workpools"]

log = logging.getLogger("mainspring.workpool")

_STOP_TIMEOUT_S = 5.0

_ERROR_BACKOFF_MS = 1000.0
#: Another process holds a pool's claim lock: look again this soon (ms, jittered).
_BUSY_RETRY_MS = 5.0
#: Pool names are re-read this often (new pools also arrive with their first enqueue).
_POOLS_REFRESH_MS = 2000.0


@dataclass
class Running:
    """An item this dispatcher runs: its task, its kind, when its lease expires."""

    task: asyncio.Task[None]
    kind: str
    lease_expires: float


class Dispatcher:
    """Runs a runtime's work pools; a runtime service (``start`` / ``stop``)."""

    def __init__(self, runtime: Runtime, options: DispatcherOptions | None = None) -> None:
        self.runtime = runtime
        self.options = options or DispatcherOptions()
        #: Names this process in leases: host, pid and a random suffix.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.store = ItemStore(runtime, self.owner, self.options.lease_ms)
        self.completer = Completer(self.store, "work items")
        self.runner = ItemRunner(runtime, self.store, self.completer)
        #: Items being run by this dispatcher, by id.
        self.running: dict[str, Running] = {}
        self._upkeep = Upkeep(self)
        self._wake = asyncio.Event()
        self._deadline = float("inf")
        self._capped = False
        self._stopping = False
        self._pools: list[str] = []
        self._pools_read = float("-inf")
        self._tasks: list[asyncio.Task[None]] = []
        self._listening: Listening | None = None
        self._unsubscribe: Any = None

    # -- service ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Reconcile the declared pools, listen for new work and start claiming."""
        self._stopping = False
        await self.runtime.workpools.reconcile()
        self._unsubscribe = self.runtime.workpools.subscribe(self._announced)
        self._listening = await self.runtime.database.listen(NOTIFY_CHANNEL, self._notified)
        self._tasks = [
            asyncio.create_task(self._dispatch(), name="workpool dispatch"),
            asyncio.create_task(self._upkeep.run(), name="workpool upkeep"),
        ]
        log.info("work pools started (%s, concurrency %d)", self.owner, self.options.concurrency)

    async def stop(self) -> None:
        """Stop claiming; give running items the grace period, then settle the rest."""
        self._stopping = True
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._listening is not None:
            await self._listening.close()
        # The dispatch loop (first) was woken and finishes its claim in flight, so what it
        # committed is in self.running and settled below; the chores are cancelled.
        await stop_loops(self._tasks, _STOP_TIMEOUT_S, log)
        self._tasks = []
        await self._settle_running(self.options.shutdown_grace_ms / 1000)
        await self.completer.close()

    async def _settle_running(self, grace_s: float) -> None:
        if not self.running:
            return
        tasks = [item.task for item in self.running.values()]
        await asyncio.wait(tasks, timeout=grace_s)
        left = {i: item.kind for i, item in self.running.items() if not item.task.done()}
        for item_id in left:
            self.running[item_id].task.cancel()
        await asyncio.wait(tasks, timeout=_STOP_TIMEOUT_S)  # bounded: see stop()
        try:
            mutations = [i for i, kind in left.items() if kind == "mutation"]
            if mutations:
                await self.store.release(mutations)
            actions = [
                (i, Outcome(failed(STOPPED_ERROR), retryable=True))
                for i, kind in left.items()
                if kind != "mutation"
            ]
            if actions:
                await self.store.finish(actions)
        except Exception as exc:  # their leases expire and other processes settle them
            log.warning("could not settle %d running work items: %s", len(left), exc)

    # -- wake-ups -----------------------------------------------------------------------------

    def _announced(self, when: float) -> None:
        self._pools_read = float("-inf")  # the work may be in a pool new to this process
        if when < self._deadline:
            self._wake.set()

    def _notified(self, payload: str | None) -> None:
        try:
            when = float(payload) if payload is not None else float("-inf")
        except ValueError:
            when = float("-inf")
        self._announced(when)

    def _item_done(self, item_id: str, _: object = None) -> None:
        self.running.pop(item_id, None)
        # A slot opened where the work was capped: claim again once a quarter of this
        # process's slots are free (or none run), so one claim takes a batch, not one item.
        free = self.options.concurrency - len(self.running)
        if self._capped and (free >= self.options.concurrency // 4 or not self.running):
            self._wake.set()

    # -- dispatch -----------------------------------------------------------------------------

    async def _pool_names(self) -> list[str]:
        now = self.runtime.clock.now_ms()
        if now - self._pools_read >= _POOLS_REFRESH_MS or not self._pools:
            async with self.runtime.read_snapshot() as reader:
                self._pools = await pool_names(reader)
            self._pools_read = now
        return self._pools

    async def claim_and_start(self) -> tuple[list[asyncio.Task[None]], bool, bool]:
        """Claim due items of every pool into the free slots and start them; returns the
        tasks, whether a pool was busy (claimed by another process) and whether one was full."""
        started: list[asyncio.Task[None]] = []
        busy = capped = False
        pools = await self._pool_names()
        for pool in random.sample(pools, len(pools)):  # no pool always goes first
            if self._stopping:  # stop() lets this claim finish: claim no further pools
                break
            free = min(self.options.concurrency - len(self.running), self.options.claim_batch)
            if free <= 0:
                capped = True
                break
            claim = await self.store.claim(pool, free)
            busy, capped = busy or claim.busy, capped or claim.capped
            for row in claim.rows:
                task = asyncio.create_task(self.runner.run(row), name=f"work {row['name']}")
                expires = float(row["lease"]["expires"])
                self.running[row["_id"]] = Running(task, str(row["kind"]), expires)
                task.add_done_callback(functools.partial(self._item_done, row["_id"]))
                started.append(task)
        # This process full is like a pool full: a finishing item frees a slot.
        capped = capped or len(self.running) >= self.options.concurrency
        return started, busy, capped

    async def _dispatch(self) -> None:
        clock, options = self.runtime.clock, self.options
        while not self._stopping:
            self._wake.clear()
            self._deadline = float("inf")  # any announcement while we look wakes us again
            try:
                started, busy, capped = await self.claim_and_start()
                self._capped = capped
                now = clock.now_ms()
                if busy:
                    self._deadline = now + _BUSY_RETRY_MS * (0.5 + random.random())
                elif started and len(self.running) < options.concurrency:
                    continue  # there may be more due right now
                else:
                    upcoming = await self.store.next_due(after=now)
                    poll = now + (options.capped_poll_ms if capped else options.poll_ms)
                    self._deadline = min(upcoming or poll, poll)
            except Exception as exc:
                log.warning("claiming work items failed: %s", exc)
                self._deadline = clock.now_ms() + _ERROR_BACKOFF_MS
            await self._sleep()

    async def _sleep(self) -> None:
        if self._wake.is_set():
            return
        timer = asyncio.ensure_future(self.runtime.clock.sleep_until(self._deadline))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            # The poll timeout also bounds a virtual clock that nobody advances.
            await asyncio.wait(
                (timer, waker),
                timeout=self.options.poll_ms / 1000,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            timer.cancel()
            waker.cancel()

    async def prune(self, batch: int | None = None) -> int:
        """Delete items that finished more than the retention period ago; how many."""
        return await self._upkeep.prune(batch)

    # -- the harness --------------------------------------------------------------------------

    async def run_due(self) -> int:
        """Claim what is due now and run it to the end, one item at a time (no background
        tasks, so a test sees a deterministic order); how many ran."""
        self._pools_read = float("-inf")
        total = 0
        for pool in await self._pool_names():
            claim = await self.store.claim(pool, self.options.concurrency)
            for row in claim.rows:
                await self.runner.run(row)
            total += len(claim.rows)
        return total


def attach_workpools(runtime: Runtime, settings: Settings) -> Dispatcher:
    """Add a work pool dispatcher configured by ``settings`` to ``runtime`` (started with it)."""
    dispatcher = Dispatcher(
        runtime,
        DispatcherOptions(
            concurrency=settings.workpool_concurrency,
            lease_ms=settings.scheduler_lease,
            poll_ms=settings.scheduler_poll,
            retention_ms=settings.workpool_retention,
        ),
    )
    runtime.add_service(dispatcher)
    return dispatcher
