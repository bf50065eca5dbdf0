"""Documents (the seed's storage schema): a name and the ``Id["_storage"]`` of its file."""

from __future__ import annotations

from typing import Any

from mainspring import Id, MutationCtx, QueryCtx, mutation, query


@mutation
async def save(ctx: MutationCtx, name: str, file_id: Id["_storage"]) -> Id["documents"]:
    """Record an uploaded file under ``name``."""
    return await ctx.db.insert("documents", {"name": name, "file_id": file_id})


@query
async def list(ctx: QueryCtx) -> list[dict[str, Any]]:
    """Every document, newest first."""
    return await ctx.db.query("documents").order("desc").collect()
