"""Work the tests enqueue: flaky actions, counters, a concurrency gauge, completion records."""

from __future__ import annotations

import asyncio
from typing import Any

from mainspring import (
    AppError,
    Id,
    NonRetryableError,
    Workpool,
    action,
    internal,
    internal_action,
    internal_mutation,
    mutation,
    query,
)
from mainspring.functions import system_function

from .pools import capped_pool, flaky_pool, jitter_pool, plain_pool, wide_pool
from .schema import Counters

POOLS: dict[str, Workpool] = {
    p.name: p for p in (flaky_pool, plain_pool, jitter_pool, capped_pool, wide_pool)
}


@internal_mutation
async def record_run(ctx: Any, tag: str) -> int:
    """Note a run of ``tag``; returns how many runs it has had, this one included."""
    await ctx.db.insert("runs", {"tag": tag, "at": ctx.now_ms()})
    return len(
        await ctx.db.query("runs").with_index("by_tag", lambda q: q.eq("tag", tag)).collect()
    )


@internal_action
async def flaky(ctx: Any, tag: str, fail_times: int = 0, permanent: bool = False) -> str:
    """Fail the first ``fail_times`` runs (NonRetryableError if ``permanent``), then succeed."""
    runs = await ctx.run_mutation(internal.work.record_run, {"tag": tag})
    if runs <= fail_times:
        if permanent:
            raise NonRetryableError(f"{tag}: permanent failure")
        raise RuntimeError(f"{tag}: failure {runs}")
    return f"{tag} ok after {runs}"


@internal_mutation
async def bump(ctx: Any, counter: Id[Counters], fail: bool = False) -> int:
    """Add one to a counter (and fail after writing, if asked: the write must roll back)."""
    row = await ctx.db.get(counter)
    await ctx.db.patch(counter, {"n": row["n"] + 1})
    if fail:
        raise AppError("bump failed on purpose")
    return int(row["n"] + 1)


@internal_mutation
async def done(ctx: Any, work_id: str, context: Any, result: Any) -> None:
    """on_complete: record the completion."""
    await ctx.db.insert("completions", {"work_id": work_id, "context": context, "result": result})


@internal_mutation
async def done_but_fails(ctx: Any, work_id: str, context: Any, result: Any) -> None:
    """on_complete that writes and then raises: its write must not stick."""
    await ctx.db.insert("completions", {"work_id": work_id, "context": "x", "result": result})
    raise AppError("on_complete failed on purpose")


@mutation
async def make_counters(ctx: Any, names: list[str]) -> list[str]:
    """One counter per name, at 0."""
    return [await ctx.db.insert("counters", {"name": n, "n": 0}) for n in names]


@mutation
async def enqueue(
    ctx: Any,
    pool: str,
    tag: str,
    fail_times: int = 0,
    permanent: bool = False,
    on_complete: bool = True,
    delay: float | None = None,
    then_fail: bool = False,
) -> str:
    """Enqueue ``work:flaky`` on ``pool`` (and fail afterwards, if asked)."""
    work_id = await POOLS[pool].enqueue_action(
        ctx,
        internal.work.flaky,
        {"tag": tag, "fail_times": fail_times, "permanent": permanent},
        on_complete=internal.work.done if on_complete else None,
        context={"tag": tag},
        run_after=delay,
    )
    if then_fail:
        raise AppError("the enqueueing mutation failed")
    return work_id


@mutation
async def enqueue_bumps(
    ctx: Any, pool: str, counters: list[str], fail: bool = False, failing_callback: bool = False
) -> list[str]:
    """Enqueue one ``work:bump`` mutation per counter."""
    callback = internal.work.done_but_fails if failing_callback else internal.work.done
    return await POOLS[pool].enqueue_mutation_batch(
        ctx,
        internal.work.bump,
        [{"counter": c, "fail": fail} for c in counters],
        on_complete=callback,
        context={"batch": True},
    )


@action
async def enqueue_from_action(ctx: Any, pool: str, tags: list[str]) -> list[str]:
    """Enqueue from an action: each call commits at once."""
    return await POOLS[pool].enqueue_action_batch(
        ctx, internal.work.flaky, [{"tag": t} for t in tags], on_complete=internal.work.done
    )


@query
async def status(ctx: Any, pool: str, work_id: str) -> Any:
    """The pool's status of an item."""
    return await POOLS[pool].status(ctx, work_id)


@mutation
async def cancel(ctx: Any, pool: str, work_id: str) -> None:
    """Cancel one item."""
    await POOLS[pool].cancel(ctx, work_id)


@mutation
async def cancel_all(ctx: Any, pool: str) -> int:
    """Cancel every item of a pool."""
    return await POOLS[pool].cancel_all(ctx)


@query
async def runs(ctx: Any, tag: str | None = None) -> list[dict[str, Any]]:
    """Recorded runs (of one tag)."""
    q = ctx.db.query("runs")
    if tag is not None:
        q = q.with_index("by_tag", lambda r: r.eq("tag", tag))
    rows: list[dict[str, Any]] = await q.collect()
    return rows


@query
async def completions(ctx: Any) -> list[dict[str, Any]]:
    """Recorded on_complete calls."""
    rows: list[dict[str, Any]] = await ctx.db.query("completions").collect()
    return rows


@query
async def counter_values(ctx: Any) -> list[int]:
    """Every counter's value, in creation order."""
    return [int(row["n"]) for row in await ctx.db.query("counters").collect()]


# -- the concurrency gauge (multi-process tests) ----------------------------------------------


@mutation
async def make_gauge(ctx: Any) -> str:
    """A gauge at 0."""
    return await ctx.db.insert("gauges", {"active": 0, "peak": 0})


@internal_mutation
async def gauge_move(ctx: Any, gauge: str, by: int) -> None:
    """Add ``by`` to the gauge's active count and keep its peak."""
    row = await ctx.db.get(gauge)
    active = row["active"] + by
    await ctx.db.patch(gauge, {"active": active, "peak": max(row["peak"], active)})


@internal_action
async def measured(ctx: Any, gauge: str, ms: float) -> None:
    """Be active for ``ms``: the gauge counts us in while we run."""
    await ctx.run_mutation(internal.work.gauge_move, {"gauge": gauge, "by": 1})
    try:
        await asyncio.sleep(ms / 1000)
    finally:
        await ctx.run_mutation(internal.work.gauge_move, {"gauge": gauge, "by": -1})


@mutation
async def enqueue_measured(ctx: Any, gauge: str, count: int, ms: float) -> list[str]:
    """``count`` measured actions on the capped pool."""
    return await capped_pool.enqueue_action_batch(
        ctx, internal.work.measured, [{"gauge": gauge, "ms": ms}] * count
    )


@query
async def gauge(ctx: Any, gauge: str) -> dict[str, Any]:
    """The gauge."""
    row: dict[str, Any] = await ctx.db.get(gauge)
    return row


# -- the SIGKILL test ---------------------------------------------------------------------------


@internal_action
async def nap(ctx: Any, tag: str, ms: float) -> str:
    """Record a run, then sleep ``ms``."""
    await ctx.run_mutation(internal.work.record_run, {"tag": tag})
    await asyncio.sleep(ms / 1000)
    return tag


@mutation
async def enqueue_mixed(ctx: Any, counters: list[str], naps: list[dict[str, Any]]) -> list[str]:
    """Bumps (mutations) and naps (actions) on the wide pool, each with on_complete."""
    ids = await wide_pool.enqueue_mutation_batch(
        ctx, internal.work.bump, [{"counter": c} for c in counters], on_complete=internal.work.done
    )
    ids += await wide_pool.enqueue_action_batch(
        ctx, internal.work.nap, naps, on_complete=internal.work.done
    )
    return ids


@system_function("query")  # a test device: reads a table internal to Mainspring
async def unfinished(ctx: Any) -> int:
    """How many items are not finished yet."""
    return sum(
        1
        for row in await ctx.db.system.query("_workpool_items").collect()
        if row["status"] != "finished"
    )
