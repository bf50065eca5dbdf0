"""The lease engine: claims due rows of one :class:`~mainspring.lease.store.LeaseStore`
into free slots and runs them, at most ``concurrency`` at once; a runtime service.

It sleeps until the earliest due time and wakes early when this process commits new work
(an in-process announcement, :class:`~mainspring.lease.wakeups.WakeUps`) or another process
does (the database's notifications: ``LISTEN/NOTIFY`` on PostgreSQL); polling every
``poll_ms`` is only a safety net. Claims take due rows in batches (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so any number of processes share the work without waiting on each
other) under a lease that the upkeep chores renew while they run.

Due *mutations* are not run one transaction each. Where claims are serializable (SQLite, a
single writer) they run inside the claim's own transaction and are recorded there; elsewhere
the mutations of one claim run together in one serializable transaction
(:meth:`LeaseRunner.run_batch`). Either way a batch costs one or two commits instead of two
per mutation.

Scheduled functions and work-pool items are two stores behind this one engine. The test
harness drives the same code without background tasks: :meth:`LeaseEngine.run_due`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from ..db.base import Listening
from .chores import stop_loops
from .completer import Completer
from .options import LeaseOptions
from .runner import LeaseRunner
from .store import Claim, Leased, LeaseStore
from .upkeep import Upkeep
from .wakeups import WakeUps

if TYPE_CHECKING:
    from ..kernel import Kernel

__all__ = ["LeaseEngine", "Running", "new_owner"]

#: At most this many due mutations run in one claim transaction (it holds the write lock).
FUSED_BATCH = 32
_STOP_TIMEOUT_S = 5.0
_ERROR_BACKOFF_MS = 1000.0
#: Another process holds a claim lock: look again this soon (ms, jittered).
_BUSY_RETRY_MS = 5.0

_O = TypeVar("_O")


def new_owner() -> str:
    """A name for the engine of this process in leases: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Running:
    """A row this engine runs: its task, its function's kind, when its lease expires."""

    task: asyncio.Task[None]
    kind: str | None
    lease_expires: float


class LeaseEngine(Generic[_O]):
    """Runs one store's due rows in this process (``start`` / ``stop``, or ``run_due``)."""

    def __init__(
        self,
        kernel: Kernel,
        store: LeaseStore[_O],
        wakeups: WakeUps,
        options: LeaseOptions,
        *,
        stopped_error: str,
        log: logging.Logger,
        before_start: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.kernel = kernel
        self.store = store
        self.options = options
        self.owner = store.owner
        self.log = log
        self.completer: Completer[_O] = Completer(store, store.what)
        self.runner = LeaseRunner(kernel, store, self.completer)
        #: Rows being run by this engine, by id.
        self.running: dict[str, Running] = {}
        #: Due mutations the latest claim ran inside its own transaction.
        self.ran_in_claim = 0
        self._wakeups = wakeups
        self._stopped_error = stopped_error
        self._before_start = before_start
        self._upkeep = Upkeep(self)
        self._wake = asyncio.Event()
        self._deadline = float("inf")
        self._waiting_for_slots = False
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._listening: Listening | None = None
        self._unsubscribe: Callable[[], None] | None = None

    # -- service ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for new work and start claiming."""
        self._stopping = False
        if self._before_start is not None:
            await self._before_start()
        self._unsubscribe = self._wakeups.subscribe(self._announced)
        channel = self._wakeups.channel
        self._listening = await self.kernel.feed.listen(channel, self._notified)
        what = self.store.what
        self._tasks = [
            asyncio.create_task(self._dispatch(), name=f"{what}: dispatch"),
            asyncio.create_task(self._upkeep.run(), name=f"{what}: upkeep"),
        ]
        self.log.info("%s: started (%s, concurrency %d)", what, self.owner,
                      self.options.concurrency)  # fmt: skip

    async def stop(self) -> None:
        """Stop claiming; give running work the grace period, then settle the rest."""
        self._stopping = True
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._listening is not None:
            await self._listening.close()
        # The dispatch loop (first) was woken and finishes its claim in flight, so what it
        # committed is in self.running and settled below; the chores are cancelled.
        await stop_loops(self._tasks, _STOP_TIMEOUT_S, self.log)
        self._tasks = []
        await self._settle_running(self.options.shutdown_grace_ms / 1000)
        await self.completer.close()

    async def _settle_running(self, grace_s: float) -> None:
        if not self.running:
            return
        tasks = [run.task for run in self.running.values()]
        await asyncio.wait(tasks, timeout=grace_s)
        left = {run_id: run.kind for run_id, run in self.running.items() if not run.task.done()}
        for run_id in left:
            self.running[run_id].task.cancel()
        await asyncio.wait(tasks, timeout=_STOP_TIMEOUT_S)  # bounded: see stop()
        store = self.store
        try:
            mutations = [run_id for run_id, kind in left.items() if kind == "mutation"]
            if mutations:
                await store.release(mutations)
            stopped = store.failure(self._stopped_error, retryable=True)
            actions = [(run_id, stopped) for run_id, kind in left.items() if kind != "mutation"]
            if actions:
                await store.finish(actions)
        except Exception as exc:  # their leases expire and other processes settle them
            self.log.warning("could not settle %d running %s: %s", len(left), store.what, exc)

    # -- wake-ups -----------------------------------------------------------------------------

    def _announced(self, when: float) -> None:
        if when < self._deadline:
            self._wake.set()

    def _notified(self, payload: str | None) -> None:
        try:
            when = float(payload) if payload is not None else float("-inf")
        except ValueError:
            when = float("-inf")
        self._announced(when)

    def _run_done(self, run_id: str, _: object = None) -> None:
        self.running.pop(run_id, None)
        # Work was held back for want of slots: claim again once enough slots are free (or
        # none run): see LeaseOptions.refill_fraction.
        free = self.options.concurrency - len(self.running)
        if self._waiting_for_slots and (free >= self.options.refill_slots or not self.running):
            self._wake.set()

    # -- dispatch -----------------------------------------------------------------------------

    def free_slots(self) -> int:
        """How many more rows this engine would run now."""
        return 0 if self._stopping else max(0, self.options.concurrency - len(self.running))

    async def claim(self) -> Claim:
        """Claim due rows into the free slots (none started yet)."""
        self.ran_in_claim = 0
        free = min(self.options.concurrency - len(self.running), self.options.claim_batch)
        if free <= 0:
            return Claim(capped=True)
        if self.kernel.database.serializable_claims:
            # Due mutations run inside the claim's transaction: one commit, not two.
            await self.kernel.refresh_env()
            claim = await self.store.claim(min(free, FUSED_BATCH), self.runner.mutation_of)
            self.ran_in_claim = claim.ran
            return claim
        return await self.store.claim(free)

    async def claim_and_start(self) -> Claim:
        """Claim due rows into the free slots and start running them (due mutations may
        already have run in the claim: see :attr:`ran_in_claim`)."""
        claim = await self.claim()
        kinds = [(run, self.runner.kind_of(run)) for run in claim.runs]
        # The claimed mutations run together, in one transaction: one commit, not one each.
        batch = [run for run, kind in kinds if kind == "mutation"]
        if len(batch) >= 2:
            batched = asyncio.create_task(self.runner.run_batch(batch), name=self.store.what)
            for run in batch:
                self._track(run, "mutation", batched)
        for run, kind in kinds:
            if kind != "mutation" or len(batch) < 2:
                self._start(run, kind)
        return claim

    def _start(self, run: Leased, kind: str | None) -> None:
        task = asyncio.create_task(self.runner.run(run), name=f"{self.store.noun} {run.name}")
        self._track(run, kind, task)

    def _track(self, run: Leased, kind: str | None, task: asyncio.Task[None]) -> None:
        self.running[run.id] = Running(task, kind, run.lease_expires)
        task.add_done_callback(functools.partial(self._run_done, run.id))

    def adopt(self, runs: list[Leased]) -> None:
        """Run rows that a committed transaction of this process already marked running
        under this engine's lease (a cron's firing: no claim needed)."""
        for run in runs:
            self._start(run, self.runner.kind_of(run))

    async def _dispatch(self) -> None:
        clock, options = self.kernel.clock, self.options
        while not self._stopping:
            self._wake.clear()
            self._deadline = float("inf")  # any announcement while we look wakes us again
            try:
                claimed_at = clock.now_ms()
                claim = await self.claim_and_start()
                full = len(self.running) >= options.concurrency
                self._waiting_for_slots = full or claim.capped
                now = clock.now_ms()
                if claim.busy:
                    self._deadline = now + _BUSY_RETRY_MS * (0.5 + random.random())
                elif full:
                    # Nothing can start before a slot frees (which wakes us): no need to
                    # know when more work comes due.
                    self._deadline = now + options.poll_ms
                elif claim.full:
                    continue  # a full batch: there may be more due right now
                else:
                    # After the claim's own time, not now: a row that came due while the
                    # claim ran was not claimable then and must wake us at once.
                    upcoming = await self.store.next_due(after=claimed_at)
                    poll = now + (options.capped_poll_ms if claim.capped else options.poll_ms)
                    self._deadline = min(upcoming or poll, poll)
            except Exception as exc:
                self.log.warning("claiming %s failed: %s", self.store.what, exc)
                self._deadline = clock.now_ms() + _ERROR_BACKOFF_MS
            await self._sleep()

    async def _sleep(self) -> None:
        if self._wake.is_set():
            return
        timer = asyncio.ensure_future(self.kernel.clock.sleep_until(self._deadline))
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

    async def reap(self) -> int:
        """Settle rows whose lease expired (their process died); how many."""
        return await self._upkeep.reap()

    async def prune(self, batch: int | None = None) -> int:
        """Delete rows that finished more than the retention period ago, ``batch`` per
        transaction (default ``options.prune_batch``); how many were deleted."""
        return await self._upkeep.prune(batch)

    # -- the harness --------------------------------------------------------------------------

    async def run_due(self, *, one_at_a_time: bool = False) -> int:
        """Claim what is due now and run it to the end (no background tasks); how many ran.
        ``one_at_a_time`` runs the claimed rows in claim order, each after the previous one
        (a test then sees a deterministic order)."""
        if not one_at_a_time:
            claim = await self.claim_and_start()
            tasks = {self.running[run.id].task for run in claim.runs if run.id in self.running}
            if tasks:
                await asyncio.gather(*tasks)
            return len(claim.runs) + self.ran_in_claim
        claim = await self.claim()
        for run in claim.runs:
            await self.runner.run(run)
        return len(claim.runs) + self.ran_in_claim
