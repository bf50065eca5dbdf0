"""Functions that show the caller's identity and the deployment's environment."""

from __future__ import annotations

from typing import Any

from mainspring import QueryCtx, query


@query
async def identity(ctx: QueryCtx) -> dict[str, Any] | None:
    found = await ctx.auth.get_user_identity()
    return None if found is None else found.to_dict()


@query
async def env(ctx: QueryCtx, name: str) -> str | None:
    return ctx.env.get(name)
