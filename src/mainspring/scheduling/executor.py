"""The executor: claims due scheduled functions and runs them, at most ``concurrency`` at once.

It sleeps until the earliest pending time and wakes early when this process commits new
work (an in-process announcement) or another process does (the database's notifications:
``LISTEN/NOTIFY`` on PostgreSQL); polling every ``poll_ms`` is only a safety net. Claims
take due rows in batches (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of
processes share the work without waiting on each other) and mark them ``inProgress`` under
a lease that :class:`~mainspring.scheduling.upkeep.Upkeep` renews while they run.

Due *mutations* are not run one transaction each. Where claims are serializable (SQLite, a
single writer) they run inside the claim's own transaction and are marked ``success`` there
(:meth:`JobStore.claim_running_mutations`); elsewhere the mutations of one claim run
together in one serializable transaction (:meth:`JobRunner.run_batch`). Either way a batch
costs one or two commits instead of two per mutation.

The test harness drives the same code without background tasks: :meth:`Executor.run_due`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..db.base import Listening
from .chores import stop_loops
from .claims import JobStore
from .jobs import NOTIFY_CHANNEL, STOPPED_ERROR, failed
from .outcomes import Completer
from .runner import JobRunner
from .service import ExecutorOptions
from .upkeep import Upkeep

if TYPE_CHECKING:
    from ..config import Settings
    from ..runtime import Runtime

__all__ = ["Executor", "attach_executor"]

log = logging.getLogger("mainspring.scheduler")

_ERROR_BACKOFF_S = 1.0
#: At most this many due mutations run in one claim transaction (it holds the write lock).
FUSED_BATCH = 32
_STOP_TIMEOUT_S = 5.0


@dataclass
class Running:
    """A row this executor runs: its task, its function's kind, when its lease expires."""

    task: asyncio.Task[None]
    kind: str | None
    lease_expires: float


class Executor:
    """Runs a runtime's scheduled functions; a runtime service (``start`` / ``stop``)."""

    def __init__(self, runtime: Runtime, options: ExecutorOptions | None = None) -> None:
        self.runtime = runtime
        self.options = options or ExecutorOptions()
        #: Names this process in leases: host, pid and a random suffix.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.jobs = JobStore(runtime, self.owner, self.options.lease_ms)
        self.completer = Completer(self.jobs)
        self.runner = JobRunner(runtime, self.jobs, self.completer)
        #: Rows being run by this executor, by id.
        self.running: dict[str, Running] = {}
        self._upkeep = Upkeep(self)
        self._wake = asyncio.Event()
        self._deadline = float("inf")
        self._saturated = False
        #: Due mutations the latest claim ran inside its own transaction.
        self.ran_in_claim = 0
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._listening: Listening | None = None
        self._unsubscribe: Any = None

    # -- service ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for new work and start claiming."""
        self._stopping = False
        self._unsubscribe = self.runtime.scheduling.subscribe(self._announced)
        self._listening = await self.runtime.database.listen(NOTIFY_CHANNEL, self._notified)
        self._tasks = [
            asyncio.create_task(self._dispatch(), name="scheduler dispatch"),
            asyncio.create_task(self._upkeep.run(), name="scheduler upkeep"),
        ]
        log.info("scheduler started (%s, concurrency %d)", self.owner, self.options.concurrency)

    async def stop(self) -> None:
        """Stop claiming; give running functions the grace period, then settle the rest."""
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
        tasks = [job.task for job in self.running.values()]
        await asyncio.wait(tasks, timeout=grace_s)
        left = {job_id: job.kind for job_id, job in self.running.items() if not job.task.done()}
        for job_id in left:
            self.running[job_id].task.cancel()
        await asyncio.wait(tasks, timeout=_STOP_TIMEOUT_S)  # bounded: see stop()
        mutations = [job_id for job_id, kind in left.items() if kind == "mutation"]
        try:
            if mutations:
                await self.jobs.release(mutations)
            actions = [(j, failed(STOPPED_ERROR)) for j, k in left.items() if k != "mutation"]
            if actions:
                await self.jobs.finish(actions)
        except Exception as exc:  # their leases expire and other processes settle them
            log.warning("could not settle %d running scheduled functions: %s", len(left), exc)

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

    def _job_done(self, job_id: str, _: object = None) -> None:
        self.running.pop(job_id, None)
        if self._saturated:
            self._wake.set()  # a slot opened and more work may be waiting

    # -- dispatch -----------------------------------------------------------------------------

    async def claim_and_start(self) -> list[asyncio.Task[None]]:
        """Claim as many due rows as there are free slots and start running them (due
        mutations may already have run in the claim: see :attr:`ran_in_claim`)."""
        self.ran_in_claim = 0
        free = min(self.options.concurrency - len(self.running), self.options.claim_batch)
        if free <= 0:
            self._saturated = True
            return []
        if self.runtime.database.serializable_claims:
            # Due mutations run inside the claim's transaction: one commit, not two.
            limit = min(free, FUSED_BATCH)
            await self.runtime.env.refresh_if_stale()
            try:
                rows, ran = await self.jobs.claim_running_mutations(limit, self.runner.mutation_of)
            except Exception as exc:
                # A mutation failed: claim the usual way, so it fails (and is recorded) alone.
                log.debug("running due mutations in the claim failed (%s); claiming", exc)
            else:
                self.ran_in_claim = ran
                self._saturated = len(rows) + ran == limit
                return [self._start(row) for row in rows]
        rows = await self.jobs.claim(free)
        self._saturated = len(rows) == free
        # The claimed mutations run together, in one transaction: one commit, not one each.
        batch: list[dict[str, Any]] = []
        others: list[dict[str, Any]] = []
        for row in rows:
            (batch if self.runner.kind_of(row) == "mutation" else others).append(row)
        if len(batch) < 2:
            return [self._start(row) for row in rows]
        batched = asyncio.create_task(self.runner.run_batch(batch), name="scheduled mutations")
        return [self._track(row, batched) for row in batch] + [self._start(r) for r in others]

    def _start(self, row: dict[str, Any]) -> asyncio.Task[None]:
        task = asyncio.create_task(self.runner.run(row), name=f"scheduled {row['name']}")
        return self._track(row, task)

    def _track(self, row: dict[str, Any], task: asyncio.Task[None]) -> asyncio.Task[None]:
        expires = float(row["lease"]["expires"])
        self.running[row["_id"]] = Running(task, self.runner.kind_of(row), expires)
        task.add_done_callback(functools.partial(self._job_done, row["_id"]))
        return task

    def free_slots(self) -> int:
        """How many more functions this executor would run now."""
        return 0 if self._stopping else max(0, self.options.concurrency - len(self.running))

    def adopt(self, rows: list[dict[str, Any]]) -> None:
        """Run rows that a committed transaction of this process already marked
        ``inProgress`` under this executor's lease (a cron's firing: no claim needed)."""
        for row in rows:
            self._start(row)

    async def _dispatch(self) -> None:
        clock = self.runtime.clock
        while not self._stopping:
            self._wake.clear()
            self._deadline = float("inf")  # any announcement while we look wakes us again
            try:
                claimed_at = clock.now_ms()
                await self.claim_and_start()
                if self._saturated:
                    if len(self.running) < self.options.concurrency:
                        continue  # a full batch: there may be more due right now
                    self._deadline = clock.now_ms() + self.options.poll_ms
                else:
                    # After the claim's own time, not now: a row that came due while the
                    # claim ran was not claimable then and must wake us at once.
                    upcoming = await self.jobs.next_pending(after=claimed_at)
                    poll_deadline = clock.now_ms() + self.options.poll_ms
                    self._deadline = min(upcoming or poll_deadline, poll_deadline)
            except Exception as exc:
                log.warning("claiming scheduled functions failed: %s", exc)
                self._deadline = clock.now_ms() + _ERROR_BACKOFF_S * 1000
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
        """Delete rows that finished more than the retention period ago, ``batch`` per
        transaction (default ``options.prune_batch``); how many were deleted."""
        return await self._upkeep.prune(batch)

    # -- the harness --------------------------------------------------------------------------

    async def run_due(self) -> int:
        """Claim what is due now and run it to the end (no background tasks); how many ran."""
        tasks = await self.claim_and_start()
        if tasks:
            await asyncio.gather(*tasks)
        return len(tasks) + self.ran_in_claim


def attach_executor(runtime: Runtime, settings: Settings) -> Executor:
    """Add an executor configured by ``settings`` to ``runtime`` (started with it)."""
    executor = Executor(
        runtime,
        ExecutorOptions(
            concurrency=settings.scheduler_concurrency,
            lease_ms=settings.scheduler_lease,
            poll_ms=settings.scheduler_poll,
            retention_ms=settings.scheduled_retention,
        ),
    )
    runtime.add_service(executor)
    return executor
