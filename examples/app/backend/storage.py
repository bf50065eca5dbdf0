"""Heavy media straight to the bucket — the second seed's R2 flow.

An action signs a PUT URL for the private bucket; the browser PUTs the file there itself
(the bucket's secret never reaches it), then calls ``storage:confirm_media`` so the object
becomes a stored file like any other (metadata, ``get_url``, delete)::

    signed = client.action("storage:get_upload_url",
                           {"filename": "clip.mp4", "content_type": "video/mp4"})
    httpx.put(signed["upload_url"], content=data, headers={"Content-Type": "video/mp4"})
    client.action("storage:confirm_media", {"storage_id": signed["storage_id"],
                                            "name": "clip.mp4"})

This needs an S3-compatible blob store (``MAINSPRING_S3_BUCKET``, plus
``MAINSPRING_S3_ENDPOINT`` for R2 or MinIO); on the local store ``get_upload_url`` fails with
an error saying so.
"""

from __future__ import annotations

from mainspring import ActionCtx, AppError, Id, StorageId, action, api

from .schema import Files


@action
async def get_upload_url(ctx: ActionCtx, filename: str, content_type: str) -> dict[str, str]:
    """``{"upload_url", "public_url", "storage_id"}`` for a signed-in user's PUT."""
    if await ctx.auth.get_user_identity() is None:
        raise AppError("Unauthenticated")
    signed = await ctx.storage.presign_upload(filename, content_type)
    return {
        "upload_url": signed["uploadUrl"],
        "public_url": signed["publicUrl"],
        "storage_id": signed["storageId"],
    }


@action
async def confirm_media(ctx: ActionCtx, storage_id: StorageId, name: str) -> Id[Files]:
    """Record the PUT object as a stored file and save it as the caller's file."""
    if await ctx.auth.get_user_identity() is None:
        raise AppError("Unauthenticated")
    await ctx.storage.confirm_upload(storage_id)
    metadata = await ctx.storage.get_metadata(storage_id)
    assert metadata is not None
    file_id: Id[Files] = await ctx.run_mutation(
        api.files.save_file,
        {
            "storage_id": storage_id,
            "name": name,
            "type": metadata["contentType"] or "application/octet-stream",
            "size": metadata["size"],
        },
    )
    return file_id
