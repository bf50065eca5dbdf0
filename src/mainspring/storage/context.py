"""``ctx.storage``: what each kind of function may do with stored files.

=====================  =====  ========  ======
method                 query  mutation  action
=====================  =====  ========  ======
get_url, get_metadata  yes    yes       yes
generate_upload_url           yes       yes
delete                        on commit at once
store, get                              yes
presign_upload,                         yes
confirm_upload
=====================  =====  ========  ======

A method used where it is not allowed raises :class:`~mainspring.errors.NotAllowedError`
saying where it is. In queries and mutations the ``_storage`` reads go through the
function's own transaction, so they are consistent with everything else it read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import timedelta
from typing import Any

from ..db.store import DocumentReader, DocumentWriter
from ..errors import NotAllowedError, ValidationError
from ..functions import Kind
from . import presigned
from .files import blob_key, check_storage_id
from .media import check_patterns
from .service import StorageService

__all__ = ["StorageContext", "StoredFile"]

_MAX_EXPIRY_S = 7 * 86_400


class StoredFile:
    """A stored file read from an action: its metadata and a streaming reader."""

    def __init__(self, service: StorageService, metadata: dict[str, Any]) -> None:
        self._service = service
        self.metadata = metadata
        self.storage_id: str = metadata["storageId"]
        self.sha256: str = metadata["sha256"]
        self.size: int = metadata["size"]
        self.content_type: str | None = metadata["contentType"]

    def __repr__(self) -> str:
        return f"<StoredFile {self.storage_id} {self.content_type} {self.size} bytes>"

    def stream(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes ``[start, end)`` in chunks, straight from the blob store."""
        return self._service.blob_store.get(blob_key(self.storage_id), start, end)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.stream()

    async def read(self) -> bytes:
        """The whole file in memory (prefer ``stream`` for large files)."""
        return b"".join([chunk async for chunk in self.stream()])


def _seconds(value: float | timedelta, name: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValidationError(f"{name} must be a number of seconds or a timedelta")
    if not 1 <= seconds <= _MAX_EXPIRY_S:
        raise ValidationError(f"{name} must be between 1 second and 7 days")
    return float(seconds)


class StorageContext:
    """``ctx.storage`` of one function call (see the module docstring for the rules)."""

    def __init__(self, service: StorageService, kind: Kind, db: DocumentReader | None) -> None:
        self._service = service
        self._kind = kind
        self._db = db

    def _require(self, method: str, *kinds: Kind) -> None:
        if self._kind not in kinds:
            where = " and ".join(f"{k}s" for k in kinds)
            raise NotAllowedError(
                f"ctx.storage.{method} is available in {where}, not in a {self._kind}"
            )

    # -- everywhere ---------------------------------------------------------------------------

    async def get_url(
        self, storage_id: str, *, permanent: bool = False, filename: str | None = None
    ) -> str | None:
        """A signed URL serving the file, or None if there is no such file.

        The URL expires at the end of the next hour-long window, so calls within one window
        return the same URL; ``permanent=True`` gives one that never expires (it stops working
        only when the file is deleted). ``filename`` names the file in Content-Disposition.
        """
        if await self._service.metadata(storage_id, self._db) is None:
            return None
        return self._service.serving_url(storage_id, permanent=permanent, filename=filename)

    async def get_metadata(self, storage_id: str) -> dict[str, Any] | None:
        """``{"storageId", "sha256", "size", "contentType"}``, or None if there is no file."""
        found: dict[str, Any] | None = await self._service.metadata(storage_id, self._db)
        return found

    # -- mutations and actions -----------------------------------------------------------------

    async def generate_upload_url(
        self,
        *,
        max_size: int | None = None,
        content_types: Sequence[str] | None = None,
        expires_s: float | timedelta = 3600,
    ) -> str:
        """A URL a client POSTs one file to (raw body, with its Content-Type).

        It works once, expires after ``expires_s`` (default one hour) and may limit the
        file's size (``max_size`` bytes) and type (``content_types``, e.g. ``["image/*"]``).
        In a mutation it exists only if the mutation commits.
        """
        self._require("generate_upload_url", "mutation", "action")
        seconds = _seconds(expires_s, "expires_s")
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1
        ):
            raise ValidationError("max_size must be a positive number of bytes")
        patterns = None
        if content_types is not None:
            if isinstance(content_types, str) or not content_types:
                raise ValidationError('content_types must be a non-empty list, e.g. ["image/*"]')
            try:
                patterns = check_patterns(content_types)
            except ValueError as exc:
                raise ValidationError(f"content_types: {exc}") from None
        uploads = self._service.uploads

        def issue(writer: DocumentWriter) -> Awaitable[str]:
            return uploads.issue_url(
                writer, max_size=max_size, content_types=patterns, expires_s=seconds
            )

        if isinstance(self._db, DocumentWriter):
            return await issue(self._db)
        # An action has no transaction of its own: the pending row gets one.
        return await self._service.runtime.transact(issue, label="ctx.storage.generate_upload_url")

    async def delete(self, storage_id: str) -> None:
        """Delete the file: in a mutation when it commits, in an action at once.

        Its URLs answer 404 from then on. Deleting a file that does not exist does nothing.
        """
        self._require("delete", "mutation", "action")
        check_storage_id(storage_id)
        service = self._service
        if isinstance(self._db, DocumentWriter):
            await service.delete_file(self._db, storage_id)
            return
        await service.runtime.transact(
            lambda writer: service.delete_file(writer, storage_id), label="ctx.storage.delete"
        )

    # -- actions ---------------------------------------------------------------------------------

    async def store(
        self, data: Any, *, content_type: str | None = None, sha256: str | None = None
    ) -> str:
        """Store ``data`` (bytes, a binary file object or an async iterator of bytes) and
        return its storage id; ``sha256`` (hex), if given, must match the data."""
        self._require("store", "action")
        return await self._service.uploads.store(data, content_type=content_type, sha256=sha256)

    async def get(self, storage_id: str) -> StoredFile | None:
        """The file as a :class:`StoredFile` (metadata plus a streaming reader), or None."""
        self._require("get", "action")
        metadata = await self._service.metadata(storage_id)
        return None if metadata is None else StoredFile(self._service, metadata)

    async def presign_upload(
        self,
        filename: str,
        content_type: str,
        *,
        size: int | None = None,
        expires_s: int = 900,
    ) -> dict[str, Any]:
        """Sign a PUT URL straight to the bucket (S3-compatible stores only).

        Returns ``{"uploadUrl", "method", "headers", "key", "storageId", "publicUrl",
        "expiresAt"}``: the client PUTs the file to ``uploadUrl`` with ``headers``, then the
        app calls :meth:`confirm_upload` with ``storageId`` to make it a stored file.
        """
        self._require("presign_upload", "action")
        if not isinstance(filename, str) or not filename.strip():
            raise ValidationError("presign_upload: filename must be a non-empty string")
        return await presigned.presign_upload(
            self._service, filename, content_type, size, expires_s
        )

    async def confirm_upload(self, storage_id: str) -> str:
        """Record an object PUT through a presigned URL as a stored file (hashing it)."""
        self._require("confirm_upload", "action")
        return await presigned.confirm_upload(self._service, storage_id)
