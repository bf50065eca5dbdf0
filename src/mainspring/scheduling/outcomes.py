"""Recording finished runs, batched naturally.

Each finished action (and each failed mutation) waits until its outcome is committed. While
one write is in flight, outcomes that arrive queue up and go out together in the next one:
under light load every outcome is its own small transaction (no added latency); under heavy
load one transaction records many, so completions cost a fraction of a commit each.
"""

from __future__ import annotations

import asyncio
import logging

from .claims import JobStore, Outcome

__all__ = ["Completer"]

log = logging.getLogger("mainspring.scheduler")

MAX_BATCH = 256
_RETRY_S = (0.05, 0.2, 1.0, 2.0, 5.0)


class Completer:
    """Writes outcomes for a :class:`JobStore`, a batch at a time."""

    def __init__(self, jobs: JobStore) -> None:
        self._jobs = jobs
        self._queue: list[tuple[str, Outcome, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def finish(self, job_id: str, outcome: Outcome) -> None:
        """Record ``outcome`` for ``job_id``; returns once it is committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((job_id, outcome, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name="scheduler completions")
        await future

    async def _flush(self) -> None:
        failures = 0
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                await self._jobs.finish([(job_id, outcome) for job_id, outcome, _ in batch])
            except Exception as exc:
                # The rows stay inProgress under our lease meanwhile, so nothing is lost.
                log.warning("recording %d finished scheduled functions failed: %s", len(batch), exc)
                self._queue[:0] = batch
                await asyncio.sleep(_RETRY_S[min(failures, len(_RETRY_S) - 1)])
                failures += 1
                continue
            failures = 0
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def close(self) -> None:
        """Wait for queued outcomes to be written."""
        if self._task is not None:
            await self._task
