"""No-op work for ``bench/workpool_throughput.py``: one pool, one no-op action."""

from __future__ import annotations

from typing import Any

from mainspring import Workpool, internal, internal_action, internal_mutation

pool = Workpool("bench", max_parallelism=128)


@internal_action
async def noop(ctx: Any, i: int) -> None:
    """Does nothing."""


@internal_mutation
async def noop_mutation(ctx: Any, i: int) -> None:
    """Does nothing, in a transaction."""


@internal_mutation
async def enqueue(ctx: Any, start: int, count: int, kind: str = "action") -> None:
    """Enqueue ``count`` no-op actions (or mutations), due now."""
    args = [{"i": i} for i in range(start, start + count)]
    if kind == "mutation":
        await pool.enqueue_mutation_batch(ctx, internal.bench.noop_mutation, args)
    else:
        await pool.enqueue_action_batch(ctx, internal.bench.noop, args)
