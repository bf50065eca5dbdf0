"""Temporary files, deleted a day after they were made — the first seed's ``cleanup.ts``.

The "cleanup temp files" cron (``crons.py``) runs :func:`temp_files` every minute. A temp
file is a stored file plus a ``temp_files`` row; an action stores the bytes and records it::

    storage_id = await ctx.storage.store(data, content_type="text/csv")   # in an action
    await ctx.run_mutation(internal.cleanup.add_temp_file, {"storage_id": storage_id})

``add_temp_file`` is internal on purpose: a public one would let any client hand the cron
someone else's file to delete.
"""

from __future__ import annotations

from typing import Any

from mainspring import (
    ActionCtx,
    AppError,
    Id,
    MutationCtx,
    QueryCtx,
    StorageId,
    action,
    internal,
    internal_mutation,
    internal_query,
)

from .schema import TempFiles

#: How long a temp file lives.
TTL_MS = 24 * 60 * 60 * 1000


@internal_mutation
async def temp_files(ctx: MutationCtx) -> int:
    """Delete the temp files older than a day, and their stored blobs; how many."""
    cutoff = ctx.now_ms() - TTL_MS  # 24 hours ago
    # The index range reads only the old rows, however many young ones there are.
    old_files = (
        await ctx.db.query("temp_files")
        .with_index("by_created_at", lambda q: q.lt("created_at", cutoff))
        .collect()
    )
    for file in old_files:
        # In a mutation the blob goes when the deletion commits: never a row without its blob.
        await ctx.storage.delete(file["storage_id"])
        await ctx.db.delete(file["_id"])
    print(f"Cleaned up {len(old_files)} temp files")
    return len(old_files)


@internal_mutation
async def add_temp_file(ctx: MutationCtx, storage_id: StorageId) -> Id[TempFiles]:
    """Record a stored file as temporary: the cleanup cron deletes it a day from now."""
    if await ctx.storage.get_metadata(storage_id) is None:
        raise AppError("File not found")
    return await ctx.db.insert("temp_files", {"storage_id": storage_id, "created_at": ctx.now_ms()})


@action
async def store_temp_file(ctx: ActionCtx, text: str, content_type: str = "text/plain") -> str:
    """Store ``text`` as a temp file for a signed-in user; its storage id."""
    if await ctx.auth.get_user_identity() is None:
        raise AppError("Unauthenticated")
    storage_id = await ctx.storage.store(text.encode(), content_type=content_type)
    await ctx.run_mutation(internal.cleanup.add_temp_file, {"storage_id": storage_id})
    return storage_id


@internal_query
async def list_temp_files(ctx: QueryCtx) -> list[dict[str, Any]]:
    """The temp files not yet cleaned up, oldest first."""
    return await ctx.db.query("temp_files").with_index("by_created_at").collect()
