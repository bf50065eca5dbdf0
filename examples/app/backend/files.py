"""File storage, as in the seeds: upload URL → POST the file → save the reference → list,
serve, inspect and delete.

The browser side of the seed, in Python terms::

    url = client.mutation("files:generate_upload_url")           # signed in
    storage_id = httpx.post(url, content=data,
                            headers={"Content-Type": "image/png"}).json()["storageId"]
    client.mutation("files:save_file", {"storage_id": storage_id, "name": "cat.png",
                                        "type": "image/png", "size": len(data)})
    client.query("files:list_with_urls")   # [{..., "url": "http://…/api/storage/…"}]
"""

from __future__ import annotations

from typing import Any

from mainspring import (
    AppError,
    Id,
    MutationCtx,
    QueryCtx,
    StorageId,
    internal_mutation,
    mutation,
    query,
)

from .schema import Files


@mutation
async def generate_upload_url(ctx: MutationCtx) -> str:
    """A one-time upload URL (valid for an hour) for a signed-in user."""
    if await ctx.auth.get_user_identity() is None:
        raise AppError("Unauthenticated")
    return await ctx.storage.generate_upload_url()


@mutation
async def save_file(
    ctx: MutationCtx, storage_id: StorageId, name: str, type: str, size: int
) -> Id[Files]:
    """Record an uploaded file as the caller's."""
    identity = await ctx.auth.get_user_identity()
    if identity is None:
        raise AppError("Unauthenticated")
    if await ctx.storage.get_metadata(storage_id) is None:
        raise AppError("File not found")
    return await ctx.db.insert(
        "files",
        {
            "storage_id": storage_id,
            "name": name,
            "type": type,
            "size": size,
            "uploaded_by": identity.subject,
            "uploaded_at": ctx.now_ms(),
        },
    )


@query
async def get_url(ctx: QueryCtx, storage_id: StorageId) -> str | None:
    """The serving URL of a stored file (None if it does not exist)."""
    return await ctx.storage.get_url(storage_id)


@query
async def get(ctx: QueryCtx, id: Id[Files]) -> dict[str, Any] | None:
    """One file record (``images:process_image`` reads it)."""
    return await ctx.db.get(id)


@query
async def get_file_with_url(ctx: QueryCtx, id: Id[Files]) -> dict[str, Any] | None:
    """A file record with its URL, or None."""
    file = await ctx.db.get(id)
    if file is None:
        return None
    return {**file, "url": await ctx.storage.get_url(file["storage_id"], filename=file["name"])}


@query
async def list_with_urls(ctx: QueryCtx) -> list[dict[str, Any]]:
    """Every file, oldest first, each with its URL (an ``<img src>`` or a download link)."""
    files = await ctx.db.query("files").collect()
    return [
        {**file, "url": await ctx.storage.get_url(file["storage_id"], filename=file["name"])}
        for file in files
    ]


@mutation
async def delete_file(ctx: MutationCtx, id: Id[Files]) -> None:
    """Delete a file record and its stored bytes (and its processed version), if it is yours.

    The blobs go when this mutation commits; if it fails, nothing is deleted.
    """
    file = await ctx.db.get(id)
    if file is None:
        raise AppError("File not found")
    identity = await ctx.auth.get_user_identity()
    if identity is None or identity.subject != file["uploaded_by"]:
        raise AppError("Forbidden")
    await ctx.storage.delete(file["storage_id"])
    if "processed_storage_id" in file:
        await ctx.storage.delete(file["processed_storage_id"])
    await ctx.db.delete(id)


@query
async def get_metadata(ctx: QueryCtx, storage_id: StorageId) -> dict[str, Any] | None:
    """``{"storageId", "sha256", "size", "contentType"}`` of a stored file, or None."""
    return await ctx.storage.get_metadata(storage_id)


@internal_mutation
async def save_processed(
    ctx: MutationCtx, original_id: Id[Files], processed_storage_id: StorageId
) -> bool:
    """Attach a processed version to a file, replacing (and deleting) any earlier one.

    False if the original was deleted meanwhile: then the processed file is deleted too
    (returning rather than raising, so that this deletion commits).
    """
    file = await ctx.db.get(original_id)
    if file is None:
        await ctx.storage.delete(processed_storage_id)
        return False
    if "processed_storage_id" in file:
        await ctx.storage.delete(file["processed_storage_id"])
    await ctx.db.patch(original_id, {"processed_storage_id": processed_storage_id})
    return True
