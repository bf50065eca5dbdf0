"""A module in a subfolder: ``api.nested.deep.*``, the path ``nested/deep:*``."""

from __future__ import annotations

from mainspring import QueryCtx, query


@query
async def count_up(ctx: QueryCtx, start_at: int = 0) -> int:
    """A nested module's function with a defaulted argument."""
    return start_at + 1
