"""No-op work for ``bench/workpool_throughput.py``: one pool, one no-op action."""

from __future__ import annotations

from typing import Any

from mainspring import Workpool, internal, internal_action, internal_mutation

pool = Workpool("bench", max_parallelism=128)


@internal_action
async def noop(ctx: Any, i: int) -> None:
    """Does nothing."""


@internal_mutation
async def enqueue(ctx: Any, start: int, count: int) -> None:
    """Enqueue ``count`` no-op actions, due now."""
    await pool.enqueue_action_batch(
        ctx, internal.bench.noop, [{"i": i} for i in range(start, start + count)]
    )
