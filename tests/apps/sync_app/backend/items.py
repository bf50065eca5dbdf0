"""Ranked items: the paginated query usePaginatedQuery pages through."""

from __future__ import annotations

from typing import Any

from mainspring import MutationCtx, QueryCtx, mutation, query


@query
async def page(ctx: QueryCtx, channel: str, pagination_opts: dict[str, Any]) -> dict[str, Any]:
    """One page of the channel's items by rank (``paginationOpts`` as the client sends it)."""
    return (
        await ctx.db.query("items")
        .with_index("by_rank", lambda q: q.eq("channel", channel))
        .paginate(pagination_opts)
    )


@mutation
async def add(ctx: MutationCtx, channel: str, ranks: list[int]) -> None:
    """Insert one item per rank."""
    for rank in ranks:
        await ctx.db.insert("items", {"channel": channel, "rank": rank})


@mutation
async def remove(ctx: MutationCtx, channel: str, rank: int) -> int:
    """Delete the items with ``rank``; how many there were."""
    rows = (
        await ctx.db.query("items")
        .with_index("by_rank", lambda q: q.eq("channel", channel).eq("rank", rank))
        .collect()
    )
    for row in rows:
        await ctx.db.delete(row["_id"])
    return len(rows)
