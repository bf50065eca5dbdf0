"""Built-in storage functions at ``_system/storage:*``, for callers that only have a path:
``mainspring storage …`` (in process or over HTTP with the admin key) and the system cron
that prunes expired upload URLs. No public client can call them.

Mainspring's own storage writes do not come here: they are transactions of their own
(:mod:`.uploads`, :meth:`~.service.StorageService.delete_file`, :mod:`.gc`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..functions import system_function
from .files import STORAGE_TABLE, UPLOADS_TABLE, metadata_of, stored_file_row

__all__ = ["PENDING_GRACE_MS", "SYSTEM_FUNCTIONS"]

#: Pending uploads are kept this long past their expiry (a presigned PUT may be confirmed late).
PENDING_GRACE_MS = 86_400_000.0


@system_function("mutation")
async def create_upload(
    ctx: Any,
    max_size: int | None = None,
    content_types: list[str] | None = None,
    expires_s: float = 3600,
) -> str:
    """An upload URL (``mainspring storage upload --url``; scripts with the admin key)."""
    url: str = await ctx.storage.generate_upload_url(
        max_size=max_size, content_types=content_types, expires_s=expires_s
    )
    return url


@system_function("mutation")
async def delete(ctx: Any, storage_id: str) -> None:
    """Delete a stored file (the blob goes after this transaction commits)."""
    await ctx.storage.delete(storage_id)


@system_function("mutation")
async def prune_uploads(ctx: Any, limit: int = 500) -> int:
    """Delete up to ``limit`` pending uploads that expired more than a day ago."""
    cutoff = ctx.runtime.clock.now_ms() - PENDING_GRACE_MS
    rows = await (
        ctx.db.system.query(UPLOADS_TABLE)
        .with_index("by_expires", lambda q: q.lt("expiresAt", cutoff))
        .take(limit)
    )
    writer = ctx.db.system_writer()
    for row in rows:
        await writer.delete(row["_id"])
    return len(rows)


@system_function("query")
async def list_files(ctx: Any, limit: int = 1000) -> list[dict[str, Any]]:
    """Up to ``limit`` stored files, oldest first: metadata plus ``_creationTime`` (the CLI)."""
    rows = await ctx.db.system.query(STORAGE_TABLE).take(limit)
    files = [stored_file_row(row) for row in rows]
    return [{**metadata_of(row), "_creationTime": row["_creationTime"]} for row in files]


@system_function("query")
async def file_url(ctx: Any, storage_id: str) -> str | None:
    """A serving URL of the file, or None (the CLI's ``storage download --url``)."""
    url: str | None = await ctx.storage.get_url(storage_id)
    return url


#: Registered by the runtime next to the other built-in functions.
SYSTEM_FUNCTIONS: Mapping[str, Any] = {
    "_system/storage:create_upload": create_upload,
    "_system/storage:delete": delete,
    "_system/storage:prune_uploads": prune_uploads,
    "_system/storage:list_files": list_files,
    "_system/storage:file_url": file_url,
}
