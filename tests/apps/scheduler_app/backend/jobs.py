"""Functions the scheduler tests schedule: counters, recorded runs, failures, waits."""

from __future__ import annotations

import asyncio
from typing import Any

from mainspring import AppError, Id, internal, internal_action, internal_mutation, mutation, query

from .schema import Counters

#: Tests set these to hold an action in the middle of its run.
GATES: dict[str, asyncio.Event] = {}
STARTED: dict[str, asyncio.Event] = {}


@mutation
async def make_counters(ctx: Any, names: list[str]) -> list[str]:
    """One counter per name, at 0."""
    return [await ctx.db.insert("counters", {"name": name, "n": 0}) for name in names]


@internal_mutation
async def bump(ctx: Any, counter: Id[Counters]) -> None:
    """Add one to a counter (each scheduled bump has its own counter: all must end at 1)."""
    row = await ctx.db.get(counter)
    await ctx.db.patch(counter, {"n": row["n"] + 1})


@internal_mutation
async def record(ctx: Any, tag: str) -> str:
    """Note that ``tag`` ran, and whether it had an identity."""
    identity = await ctx.auth.get_user_identity()
    return await ctx.db.insert("runs", {"tag": tag, "identity": identity is not None})


@internal_mutation
async def record_then_fail(ctx: Any, tag: str, message: str) -> None:
    """Write, then fail: the write must roll back."""
    await ctx.db.insert("runs", {"tag": tag, "identity": False})
    raise AppError(message)


@internal_action
async def act(ctx: Any, tag: str) -> None:
    """Record a run through a mutation (actions have no ctx.db)."""
    identity = await ctx.auth.get_user_identity()
    await ctx.run_mutation(internal.jobs.record, {"tag": tag})
    if identity is not None:
        raise AppError("a scheduled action had an identity")


@internal_action
async def act_fail(ctx: Any, message: str) -> None:
    """An action that raises."""
    raise ValueError(message)


@internal_action
async def gated(ctx: Any, tag: str, then: str | None = None) -> None:
    """Wait at GATES[tag] (set by a test), then record and optionally schedule ``then``."""
    STARTED.setdefault(tag, asyncio.Event()).set()
    await GATES.setdefault(tag, asyncio.Event()).wait()
    await ctx.run_mutation(internal.jobs.record, {"tag": tag})
    if then is not None:
        await ctx.scheduler.run_after(0, internal.jobs.act, {"tag": then})


@internal_action
async def sleepy(ctx: Any, tag: str, ms: float) -> None:
    """Sleep (real time), then record: work a killed worker leaves half done."""
    await asyncio.sleep(ms / 1000)
    await ctx.run_mutation(internal.jobs.record, {"tag": tag})


@internal_mutation
async def forever(ctx: Any, delay: float) -> None:
    """Schedule itself again: an endless chain."""
    await ctx.scheduler.run_after(delay, internal.jobs.forever, {"delay": delay})


@mutation
async def schedule(ctx: Any, function: str, args: dict[str, Any], delay: float = 0) -> str:
    """Schedule any function by path (tests pass bad paths and arguments here)."""
    job: str = await ctx.scheduler.run_after(delay, function, args)
    return job


@mutation
async def schedule_many(
    ctx: Any, function: str, args: list[dict[str, Any]], delay: float = 0
) -> list[str]:
    """Schedule ``function`` once per argument object."""
    return [await ctx.scheduler.run_after(delay, function, a) for a in args]


@mutation
async def schedule_at(ctx: Any, function: str, args: dict[str, Any], when: float) -> str:
    """``run_at`` by path."""
    job: str = await ctx.scheduler.run_at(when, function, args)
    return job


@mutation
async def schedule_then_fail(ctx: Any) -> None:
    """Schedule, then fail: nothing may stay scheduled."""
    await ctx.scheduler.run_after(0, internal.jobs.record, {"tag": "never"})
    raise AppError("changed my mind")


@mutation
async def cancel(ctx: Any, id: str) -> None:
    """Cancel a scheduled function."""
    await ctx.scheduler.cancel(id)


@internal_action
async def schedule_from_action(ctx: Any, tag: str, delay: float) -> str:
    """Schedule from an action: takes effect at once."""
    job: str = await ctx.scheduler.run_after(delay, internal.jobs.record, {"tag": tag})
    return job


@query
async def scheduled(ctx: Any, id: str) -> dict[str, Any] | None:
    """One _scheduled_functions row."""
    row: dict[str, Any] | None = await ctx.db.system.get(id)
    return row


@query
async def all_scheduled(ctx: Any) -> list[dict[str, Any]]:
    """Every _scheduled_functions row, oldest first."""
    rows: list[dict[str, Any]] = await ctx.db.system.query("_scheduled_functions").collect()
    return rows


@query
async def runs(ctx: Any, tag: str | None = None) -> list[dict[str, Any]]:
    """Recorded runs (of one tag)."""
    q = ctx.db.query("runs")
    if tag is not None:
        q = q.with_index("by_tag", lambda r: r.eq("tag", tag))
    rows: list[dict[str, Any]] = await q.collect()
    return rows


@query
async def counter_values(ctx: Any) -> list[int]:
    """Every counter's value."""
    return [row["n"] for row in await ctx.db.query("counters").collect()]


@query
async def query_fn(ctx: Any) -> int:
    """A query: cannot be scheduled."""
    return 1
