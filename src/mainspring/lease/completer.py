"""Recording finished runs, batched naturally.

Each finished run waits until its outcome is committed. While one write is in flight,
outcomes that arrive queue up and go out together in the next one: under light load every
outcome is its own small transaction (no added latency); under heavy load one transaction
records many, so completions cost a fraction of a commit each. The scheduler's executor and
the work pools' dispatchers each use one, over their own store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from ..backoff import Backoff

__all__ = ["Completer", "Finisher"]

log = logging.getLogger("mainspring.scheduler")

MAX_BATCH = 256
#: Between attempts to write outcomes while the database fails (seconds).
_RETRY = Backoff(0.05, 4.0, 5.0, jitter=False)

_O = TypeVar("_O")
_O_contra = TypeVar("_O_contra", contravariant=True)


class Finisher(Protocol[_O_contra]):
    """A store that records a batch of ``(id, outcome)`` in one transaction."""

    async def finish(self, outcomes: Sequence[tuple[str, _O_contra]]) -> None: ...


class Completer(Generic[_O]):
    """Writes outcomes through a :class:`Finisher`, a batch at a time; ``what`` names the
    runs in log messages."""

    def __init__(self, store: Finisher[_O], what: str = "scheduled functions") -> None:
        self._store = store
        self._what = what
        self._queue: list[tuple[str, _O, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def finish(self, run_id: str, outcome: _O) -> None:
        """Record ``outcome`` for ``run_id``; returns once it is committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((run_id, outcome, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name=f"{self._what}: completions")
        await future

    async def _flush(self) -> None:
        failures = 0
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                await self._store.finish([(run_id, outcome) for run_id, outcome, _ in batch])
            except Exception as exc:
                # The rows stay running under our lease meanwhile, so nothing is lost.
                log.warning("recording %d finished %s failed: %s", len(batch), self._what, exc)
                self._queue[:0] = batch
                failures += 1
                await _RETRY.sleep(failures)
                continue
            failures = 0
            for _, _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def close(self, timeout_s: float = 15.0) -> None:
        """Wait for queued outcomes to be written, at most ``timeout_s``: a database that
        keeps failing must not hold up shutdown. Outcomes not written by then are settled by
        the lease expiry (actions ``failed``, mutations run again)."""
        task = self._task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait([task], timeout=timeout_s)
        if not done:
            task.cancel()
            log.warning(
                "gave up recording %d finished %s at shutdown; their leases will expire",
                len(self._queue),
                self._what,
            )
