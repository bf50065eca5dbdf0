"""Work for the lease store contract: put on either store, run by either engine."""

from __future__ import annotations

from typing import Any, Literal

from mainspring import (
    MutationCtx,
    QueryCtx,
    Workpool,
    internal_action,
    internal_mutation,
    mutation,
    query,
)

pool = Workpool("contract", max_parallelism=1000)


@internal_mutation
async def bump(ctx: MutationCtx, name: str) -> int:
    """Count one run of ``name``."""
    row = await ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", name)).first()
    if row is None:
        await ctx.db.insert("counters", {"name": name, "n": 1})
        return 1
    await ctx.db.patch(row["_id"], {"n": row["n"] + 1})
    return int(row["n"]) + 1


@internal_mutation
async def bump_then_fail(ctx: MutationCtx, name: str) -> None:
    """Write, then raise: the write must never be seen."""
    await bump.handler(ctx, name=name)
    raise RuntimeError(f"{name} failed on purpose")


@internal_action
async def act(ctx: Any, name: str) -> str:
    """An action: counts itself through a mutation."""
    await ctx.run_mutation(bump, {"name": name})
    return name


@mutation
async def put(
    ctx: MutationCtx,
    store: Literal["scheduled", "workpool"],
    function: str,
    name: str,
    at: float,
) -> str:
    """Put one run of ``work:<function>`` on ``store``, due at ``at``."""
    path = f"work:{function}"
    if store == "scheduled":
        return await ctx.scheduler.run_at(at, path, {"name": name})
    if function == "act":
        return await pool.enqueue_action(ctx, path, {"name": name}, run_at=at)
    return await pool.enqueue_mutation(ctx, path, {"name": name}, run_at=at)


@query
async def counts(ctx: QueryCtx) -> dict[str, int]:
    """Every counter."""
    return {row["name"]: row["n"] for row in await ctx.db.query("counters").collect()}
