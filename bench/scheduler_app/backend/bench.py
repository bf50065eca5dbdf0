"""No-op scheduled functions for ``bench/scheduler_throughput.py``."""

from __future__ import annotations

import time
from typing import Any

from mainspring import internal, internal_action, internal_mutation


@internal_mutation
async def noop_mutation(ctx: Any, i: int) -> None:
    """Does nothing (its row's state change is the only write)."""


@internal_action
async def noop_action(ctx: Any, i: int) -> None:
    """Does nothing."""


@internal_mutation
async def enqueue(ctx: Any, kind: str, start: int, count: int) -> None:
    """Schedule ``count`` no-op functions of ``kind`` to run now."""
    target = internal.bench.noop_mutation if kind == "mutation" else internal.bench.noop_action
    for i in range(start, start + count):
        await ctx.scheduler.run_after(0, target, {"i": i})


@internal_mutation
async def schedule_late(ctx: Any, when: float) -> None:
    """Schedule ``late`` at ``when`` (ms since the epoch)."""
    await ctx.scheduler.run_at(when, internal.bench.late, {"when": when})


@internal_mutation
async def late(ctx: Any, when: float) -> None:
    """Record how late it started (wall clock, same machine)."""
    await ctx.db.insert("lateness", {"ms": time.time() * 1000 - when})
