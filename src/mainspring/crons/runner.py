"""The cron service: reconciles at start-up, then fires each tick when it comes.

Every process that runs scheduled functions runs one (``mainspring dev``, ``serve``,
``worker``). It sleeps until the earliest ``nextRun`` of all crons — no busy polling; a
re-read every ``poll_ms`` catches crons another process reconciled — and decides due ticks
through :func:`~.firing.fire_crons`, which makes each tick fire once however many processes
wake for it. The function itself runs through the scheduler: started at once by this
process's executor when it has a free slot, else claimed by whichever process has one.

In the test harness nothing runs in the background: :class:`CronRunner` is a harness
participant whose due ticks fire when the test advances the virtual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..lease.chores import sleep_until_at_most
from .firing import fire_crons
from .jobs import CronJob
from .reconcile import Reconciled, reconcile
from .schedule import IntervalSchedule
from .tables import BY_NEXT_RUN, JOBS_TABLE, SYSTEM_CRON_PREFIX

if TYPE_CHECKING:
    from ..scheduling.executor import Executor
    from ..scheduling.service import SchedulingKernel

__all__ = ["SYSTEM_CRONS", "CronRunner"]

log = logging.getLogger("mainspring.crons")

#: Mainspring's own periodic chores, run as crons (so ``mainspring crons ls`` shows them).
SYSTEM_CRONS = (
    CronJob(
        f"{SYSTEM_CRON_PREFIX}storage: prune expired upload URLs",
        IntervalSchedule(3_600_000),
        "_system/storage:prune_uploads",
    ),
)
_BATCH = 256
#: While a due tick waits (``catch_up="all"`` behind a running one), look again this often.
_BACKLOG_RETRY_MS = 1_000.0
_ERROR_BACKOFF_MS = 1_000.0


class CronRunner:
    """Fires one runtime's crons: a runtime service, and a harness participant."""

    #: Crons never run out of work: ``finish_all_scheduled`` does not wait for them.
    endless = True

    def __init__(
        self,
        runtime: SchedulingKernel,
        crons: Iterable[CronJob],
        *,
        executor: Executor | None = None,
        poll_ms: float = 60_000.0,
    ) -> None:
        self.runtime = runtime
        self.crons = list(crons)
        #: This process's executor: fired functions are handed to it directly.
        self.executor = executor
        self.poll_ms = poll_ms
        self._task: asyncio.Task[None] | None = None
        self._more_due = False  # the last firing took a full batch: more may be due

    async def reconcile(self) -> Reconciled:
        """Apply the declared crons to the database (added, updated, removed)."""
        return await reconcile(self.runtime, self.crons)

    async def start(self) -> None:
        """Reconcile, then fire ticks in the background."""
        changes = await self.reconcile()
        log.info(
            "crons: %d added, %d updated, %d removed, %d unchanged",
            len(changes.added),
            len(changes.updated),
            len(changes.removed),
            changes.unchanged,
        )
        self._task = asyncio.create_task(self._loop(), name="crons")

    async def stop(self) -> None:
        """Stop firing (runs already handed to the scheduler are the executor's)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def next_due(self) -> float | None:
        """The earliest ``nextRun`` of all crons."""
        async with self.runtime.read_snapshot() as reader:
            rows = await reader.system.query(JOBS_TABLE).with_index(BY_NEXT_RUN).take(1)
        return float(rows[0]["nextRun"]) if rows else None

    async def run_due(self) -> int:
        """Harness round: fire what is due; 0, as the fired functions run (and are counted)
        in the scheduler's part of the round."""
        await self.fire_due()
        return 0

    async def fire_due(self) -> int:
        """Decide every due tick now; how many fired (their functions are scheduled)."""
        now = self.runtime.clock.now_ms()
        async with self.runtime.read_snapshot() as reader:
            due = await (
                reader.system.query(JOBS_TABLE)
                .with_index(BY_NEXT_RUN, lambda q: q.lte("nextRun", now))
                .take(_BATCH)
            )
        self._more_due = len(due) == _BATCH
        if not due:
            return 0
        fired = await fire_crons(self.runtime, [row["_id"] for row in due], self.executor)
        if fired.adopted and self.executor is not None:
            self.executor.adopt_rows(fired.adopted)
        return fired.count

    async def _loop(self) -> None:
        clock = self.runtime.clock
        while True:
            try:
                fired_at = clock.now_ms()
                await self.fire_due()
                upcoming = await self.next_due()
                now = clock.now_ms()
                if upcoming is None:
                    deadline = now + self.poll_ms
                elif self._more_due:
                    deadline = now
                elif upcoming <= fired_at:
                    # Due when we fired, yet not decided: waiting behind a running run
                    # (catch_up="all"), or lost to a transient error.
                    deadline = now + _BACKLOG_RETRY_MS
                else:
                    deadline = min(upcoming, now + self.poll_ms)  # (at once if due by now)
            except Exception as exc:
                log.warning("firing crons failed: %s", exc)
                deadline = clock.now_ms() + _ERROR_BACKOFF_MS
            # Real time bounds the wait too: a virtual clock may never be advanced. (Not
            # asyncio.wait_for, which can swallow stop()'s cancel: see sleep_until_at_most.)
            timeout = max(0.0, (deadline - clock.now_ms()) / 1000)
            await sleep_until_at_most(clock, deadline, timeout + 0.05)
