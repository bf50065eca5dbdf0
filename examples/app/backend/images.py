"""The seed's image-processing action: resize an uploaded image with an external service.

The service's URL is a deployment environment variable (``mainspring env set
IMAGE_RESIZE_URL https://…/resize``). It receives ``{"imageUrl": <signed URL of the file>,
"width": 800}``, fetches the image itself, and answers with the resized image, which is
streamed straight into storage and attached to the file record.
"""

from __future__ import annotations

import httpx

from mainspring import ActionCtx, AppError, Id, StorageId, action, api, internal

from .schema import Files

RESIZE_URL_VARIABLE = "IMAGE_RESIZE_URL"
WIDTH = 800


@action
async def process_image(ctx: ActionCtx, file_id: Id[Files]) -> StorageId:
    """Resize the file's image; returns the storage id of the processed image."""
    file = await ctx.run_query(api.files.get, {"id": file_id})
    if file is None:
        raise AppError("File not found")
    url = await ctx.storage.get_url(file["storage_id"])
    if url is None:
        raise AppError("File URL not found")
    service = ctx.env.get(RESIZE_URL_VARIABLE)
    if not service:
        raise AppError(f"{RESIZE_URL_VARIABLE} is not set (mainspring env set ...)")
    async with (
        httpx.AsyncClient(timeout=60.0) as http,
        http.stream("POST", service, json={"imageUrl": url, "width": WIDTH}) as response,
    ):
        if response.status_code != 200:
            raise AppError(f"the resize service answered {response.status_code}")
        content_type = response.headers.get("content-type", "image/jpeg")
        processed: StorageId = await ctx.storage.store(
            response.aiter_bytes(), content_type=content_type
        )
    saved = await ctx.run_mutation(
        internal.files.save_processed,
        {"original_id": file_id, "processed_storage_id": processed},
    )
    if not saved:
        raise AppError("File not found")
    return processed
