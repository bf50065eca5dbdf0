"""Users: ``users:create``, ``users:get``, ``users:by_name`` and an internal rename."""

from __future__ import annotations

from typing import Any

from mainspring import AppError, Id, MutationCtx, QueryCtx, internal_mutation, mutation, query

from .schema import Users


@mutation
async def create(ctx: MutationCtx, name: str) -> Id[Users]:
    """Add a user; names are unique."""
    name = name.strip()
    if not name:
        raise AppError({"code": "INVALID_NAME", "message": "a user needs a name"})
    taken = await ctx.db.query("users").with_index("by_name", lambda q: q.eq("name", name)).first()
    if taken is not None:
        raise AppError({"code": "NAME_TAKEN", "name": name})
    return await ctx.db.insert("users", {"name": name})


@query
async def get(ctx: QueryCtx, id: Id[Users]) -> dict[str, Any] | None:
    """One user, or None."""
    return await ctx.db.get(id)


@query
async def by_name(ctx: QueryCtx, name: str) -> dict[str, Any] | None:
    """The user called ``name`` (an index lookup), or None."""
    return await ctx.db.query("users").with_index("by_name", lambda q: q.eq("name", name)).unique()


@internal_mutation
async def rename(ctx: MutationCtx, id: Id[Users], name: str) -> None:
    """Rename a user: internal, so only other functions and the admin (CLI) may call it."""
    await ctx.db.patch(id, {"name": name})
