"""Documents (the seed's storage schema): a name and the ``StorageId`` of its file."""

from __future__ import annotations

from typing import Any

from mainspring import Id, MutationCtx, QueryCtx, StorageId, mutation, query

from .schema import Documents


@mutation
async def save(ctx: MutationCtx, name: str, file_id: StorageId) -> Id[Documents]:
    """Record an uploaded file under ``name``."""
    return await ctx.db.insert("documents", {"name": name, "file_id": file_id})


@query
async def list(ctx: QueryCtx) -> list[dict[str, Any]]:
    """Every document, newest first."""
    return await ctx.db.query("documents").order("desc").collect()
