"""Heavy media straight to the bucket: presigned PUT URLs, then a confirm step.

``presign_upload`` mints the storage id first, signs a PUT of ``blob_key(id)`` with the S3
store (content type, and length when known, signed in) and records a pending upload. The
client PUTs the object to the bucket itself; the bucket stays private and its secret never
leaves the server. ``confirm_upload`` then checks the object is there, hashes it (reading it
back), and inserts the ``_storage`` row while consuming the pending upload — from then on it
is a stored file like any other (metadata, ``get_url``, delete, garbage collection).
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..errors import DocumentNotFoundError, NotAllowedError, ValidationError
from .base import BlobInfo
from .files import UPLOADS_TABLE, blob_key, check_storage_id
from .media import check_content_type
from .service import StorageService

__all__ = ["MAX_EXPIRY_S", "confirm_upload", "presign_upload"]

MAX_EXPIRY_S = 7 * 86_400


async def presign_upload(
    service: StorageService, filename: str, content_type: str, size: int | None, expires_s: int
) -> dict[str, Any]:
    """Sign a PUT URL to the bucket for a file to be confirmed with :func:`confirm_upload`."""
    checked = check_content_type(content_type)
    if checked is None:
        raise ValidationError("presign_upload: a content type is required")
    if not 1 <= expires_s <= MAX_EXPIRY_S:
        raise ValidationError(f"presign_upload: expires_s must be between 1 and {MAX_EXPIRY_S}")
    if size is not None and not 0 <= size <= service.max_upload_bytes:
        raise ValidationError(f"presign_upload: size must be at most {service.max_upload_bytes}")
    storage_id = service.new_storage_id()
    try:
        signed = await service.blob_store.presign_put(
            blob_key(storage_id), content_type=checked, content_length=size, expires_s=expires_s
        )
    except NotAllowedError:
        raise NotAllowedError(
            "presigned uploads need an S3-compatible blob store (MAINSPRING_S3_BUCKET); this "
            f"deployment keeps files in a {service.blob_store.kind} store — use "
            "ctx.storage.generate_upload_url() instead"
        ) from None
    row: dict[str, Any] = {
        "kind": "presigned",
        "storageId": storage_id,
        "expiresAt": signed.expires_ms,
        "filename": filename,
        "contentType": checked,
    }
    if size is not None:
        row["size"] = size
    await service.runtime.transact(
        lambda writer: writer.system_writer().insert(UPLOADS_TABLE, row),
        label="ctx.storage.presign_upload",
    )
    return {
        "uploadUrl": signed.url,
        "method": signed.method,
        "headers": signed.headers,
        "key": blob_key(storage_id),
        "storageId": storage_id,
        "publicUrl": service.serving_url(storage_id, permanent=True, filename=filename),
        "expiresAt": signed.expires_ms,
    }


async def confirm_upload(service: StorageService, storage_id: str) -> str:
    """Record a presigned upload the client has PUT as a stored file (idempotent)."""
    check_storage_id(storage_id)
    async with service.runtime.read_snapshot() as snapshot:
        if await snapshot.system.get(storage_id) is not None:
            return storage_id
        pending = await (
            snapshot.system.query(UPLOADS_TABLE)
            .with_index("by_storage_id", lambda q: q.eq("storageId", storage_id))
            .unique()
        )
    if pending is None:
        raise DocumentNotFoundError(f"no presigned upload for {storage_id}")
    key = blob_key(storage_id)
    if await service.blob_store.stat(key) is None:
        raise DocumentNotFoundError(f"{storage_id}: the object was not uploaded (yet)")
    digest, size = hashlib.sha256(), 0
    async for chunk in service.blob_store.get(key):
        digest.update(chunk)
        size += len(chunk)
    if pending.get("size") is not None and size != pending["size"]:
        await service.delete_blob(storage_id)
        raise ValidationError(f"{storage_id}: uploaded {size} bytes, not {pending['size']}")
    info = BlobInfo(size, digest.hexdigest())
    return await service.uploads.record(pending["_id"], storage_id, info, pending["contentType"])
