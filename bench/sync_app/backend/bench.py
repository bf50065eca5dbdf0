"""A counter to subscribe to and a mutation that moves it, for ``bench/sync_latency.py``."""

from __future__ import annotations

from typing import Any

from mainspring import MutationCtx, QueryCtx, mutation, query


@query
async def latest(ctx: QueryCtx, name: str, k: float) -> dict[str, Any] | None:
    """The counter's latest value; ``k`` only makes distinct subscriptions of one read set."""
    row = await ctx.db.query("counter").with_index("by_name", lambda q: q.eq("name", name)).first()
    return None if row is None else {"value": row["value"], "k": k}


@mutation
async def set_value(ctx: MutationCtx, name: str, value: float) -> None:
    """Insert the counter, or patch its value."""
    row = await ctx.db.query("counter").with_index("by_name", lambda q: q.eq("name", name)).first()
    if row is None:
        await ctx.db.insert("counter", {"name": name, "value": value})
    else:
        await ctx.db.patch(row["_id"], {"value": value})
