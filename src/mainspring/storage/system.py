"""Built-in storage functions at ``_system/storage:*`` (internal: the runtime, the HTTP
endpoints, actions and the admin call them; no public client can).

Each is one transaction, so the pending-upload row and the ``_storage`` row change together:
``finish_upload`` consumes the pending upload and inserts the file, or does neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..functions import system_function
from .gc import gc_delete
from .service import (
    STORAGE_TABLE,
    UPLOADS_TABLE,
    UploadRefused,
    check_storage_id,
    metadata_of,
)

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
    """An upload URL (``ctx.storage.generate_upload_url`` in an action lands here)."""
    url: str = await ctx.storage.generate_upload_url(
        max_size=max_size, content_types=content_types, expires_s=expires_s
    )
    return url


@system_function("mutation")
async def add_pending(ctx: Any, row: dict[str, Any]) -> str:
    """Insert a pending-upload row (presigned uploads)."""
    upload_id: str = await ctx.db.system_writer().insert(UPLOADS_TABLE, row)
    return upload_id


@system_function("mutation")
async def finish_upload(
    ctx: Any,
    upload_id: str | None,
    storage_id: str,
    sha256: str,
    size: int,
    content_type: str | None,
) -> str:
    """Consume the pending upload (if any) and insert the stored file, in one transaction."""
    writer = ctx.db.system_writer()
    if upload_id is not None:
        if await writer.get(upload_id) is None:
            raise UploadRefused("used", "this upload URL was already used (each works once)")
        await writer.delete(upload_id)
    row: dict[str, Any] = {"sha256": sha256, "size": size}
    if content_type is not None:
        row["contentType"] = content_type
    await writer.insert(STORAGE_TABLE, row, doc_id=check_storage_id(storage_id))
    return storage_id


@system_function("mutation")
async def delete(ctx: Any, storage_id: str) -> None:
    """Delete a stored file (the blob goes after this transaction commits)."""
    await ctx.storage.delete(storage_id)


@system_function("action")
async def confirm_upload(ctx: Any, storage_id: str) -> str:
    """Record a presigned upload after the client's PUT (the admin may call it too)."""
    confirmed: str = await ctx.storage.confirm_upload(storage_id)
    return confirmed


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
    return [{**metadata_of(row), "_creationTime": row["_creationTime"]} for row in rows]


@system_function("query")
async def file_url(ctx: Any, storage_id: str) -> str | None:
    """A serving URL of the file, or None (the CLI's ``storage download --url``)."""
    url: str | None = await ctx.storage.get_url(storage_id)
    return url


#: Registered by the runtime next to the other built-in functions.
SYSTEM_FUNCTIONS: Mapping[str, Any] = {
    "_system/storage:create_upload": create_upload,
    "_system/storage:add_pending": add_pending,
    "_system/storage:finish_upload": finish_upload,
    "_system/storage:delete": delete,
    "_system/storage:confirm_upload": confirm_upload,
    "_system/storage:prune_uploads": prune_uploads,
    "_system/storage:gc_delete": gc_delete,
    "_system/storage:list_files": list_files,
    "_system/storage:file_url": file_url,
}
