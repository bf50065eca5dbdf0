"""Uploads: the one way bytes become a stored file, with every rule an upload must pass.

An upload URL is a pending ``_storage_uploads`` row (its limits: ``maxSize``,
``contentTypes``, ``expiresAt``) named by a signed token; :meth:`Uploads.issue_url` makes one.
:meth:`Uploads.accept` takes what was POSTed to it and applies the rules, in this order:

=====================================================  ================
rule                                                   refusal reason
=====================================================  ================
there is a token                                       ``missing``
it is genuine (our signature, not tampered with)       ``forged``
it has not expired                                     ``expired``
its URL was not used yet                               ``used``
the content type is a media type the URL allows        ``content_type``
the declared length, then the bytes as they arrive,    ``too_large``
are within the URL's and the deployment's limit
the bytes' SHA-256 is the expected one, if any         ``digest``
the URL is still unused when the file is recorded      ``used``
=====================================================  ================

Each refusal is an :class:`UploadRefused` carrying its reason; the HTTP route maps reasons to
status codes, and raises the reasons it alone can see (``bad_request``, ``bad_digest``,
``disconnected``) for requests it cannot parse. :meth:`Uploads.store` is
``ctx.storage.store``: no URL, no size limit (the deployment's limit is for upload URLs),
and a bad content type or digest is the action's ValidationError. Presigned uploads end in
:meth:`Uploads.record` once confirmed (see :mod:`.presigned`).

Whatever the door, the storage id is minted first, the blob is written under its key, checked,
and only then recorded by one transaction that consumes the upload URL and inserts the
``_storage`` row. A refused or failed upload leaves no row and no blob: the blob store drops a
partial blob when the chunks raise, and a blob that fails a check or whose transaction fails
is deleted (see :meth:`Uploads.record` for the one exception).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..db.store import DocumentWriter
from ..errors import MainspringError, ValidationError
from .base import BlobInfo
from .chunks import as_chunks
from .files import STORAGE_TABLE, UPLOADS_TABLE, UploadRow, blob_key, upload_row
from .media import check_content_type, parse_media_type, type_allowed
from .signing import InvalidSignature

if TYPE_CHECKING:
    from ..db.store import DocumentReader
    from ..kernel import Kernel
    from .base import BlobStore
    from .signing import Signer


class StorageParts(Protocol):
    """What uploads use of the storage service (:class:`~.service.StorageParts`)."""

    runtime: Kernel
    max_upload_bytes: int

    @property
    def blob_store(self) -> BlobStore: ...

    @property
    def signer(self) -> Signer: ...

    def now_ms(self) -> float: ...

    def new_storage_id(self) -> str: ...

    def upload_url(self, upload_id: str, expires_ms: float) -> str: ...

    async def metadata(self, storage_id: str, reader: DocumentReader | None = None) -> Any: ...

    def remember(self, meta: dict[str, Any]) -> None: ...

    async def delete_blob(self, storage_id: str) -> None: ...


__all__ = ["RefusalReason", "UploadRefused", "Uploads"]

RefusalReason = Literal[
    "missing",
    "forged",
    "expired",
    "used",
    "content_type",
    "too_large",
    "digest",
    "bad_request",
    "bad_digest",
    "disconnected",
]


class UploadRefused(MainspringError):
    """An upload the server will not accept; ``reason`` says which rule refused it."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason: RefusalReason = reason


def _too_large(limit: int) -> UploadRefused:
    return UploadRefused("too_large", f"the file is larger than {limit} bytes")


def _used() -> UploadRefused:
    return UploadRefused("used", "this upload URL was already used (each works once)")


async def _within(chunks: AsyncIterable[bytes], limit: int) -> AsyncIterator[bytes]:
    """``chunks``, refused as soon as they add up to more than ``limit`` bytes (counted as they
    arrive, as a missing or false length cannot be trusted)."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        yield chunk


def _allowed_type(content_type: str | None, allowed: Sequence[str] | None) -> str | None:
    """The content type to store (as given, stripped), or None; refused if it is not a media
    type, or not one the URL allows."""
    media_type = parse_media_type(content_type)
    if content_type is not None and content_type.strip() and media_type is None:
        raise UploadRefused("content_type", f"{content_type!r} is not a media type")
    if allowed is not None and not type_allowed(media_type, allowed):
        raise UploadRefused(
            "content_type",
            f"this upload URL accepts {', '.join(allowed)}, not {media_type or 'no type'}",
        )
    return content_type.strip() if content_type and media_type else None


class Uploads:
    """The uploads of one storage service: ``runtime.storage.uploads``."""

    def __init__(self, service: StorageParts) -> None:
        self._service = service

    async def issue_url(
        self,
        writer: DocumentWriter,
        *,
        max_size: int | None,
        content_types: list[str] | None,
        expires_s: float,
    ) -> str:
        """A new upload URL, pending in ``writer``'s transaction (it exists if that commits).

        The arguments are checked already (``ctx.storage.generate_upload_url`` does).
        """
        expires = self._service.now_ms() + expires_s * 1000.0
        row: dict[str, Any] = {"kind": "url", "expiresAt": expires}
        if max_size is not None:
            row["maxSize"] = max_size
        if content_types is not None:
            row["contentTypes"] = content_types
        upload_id = await writer.system_writer().insert(UPLOADS_TABLE, row)
        return self._service.upload_url(upload_id, expires)

    async def accept(
        self,
        token: str | None,
        chunks: AsyncIterable[bytes],
        *,
        declared_length: int | None = None,
        content_type: str | None = None,
        expected_sha256: str | None = None,
    ) -> str:
        """Store what was sent to the upload URL of ``token``: the new storage id.

        ``declared_length`` is what the client says the size is (checked before any byte is
        read), ``expected_sha256`` the hex digest it promises. UploadRefused if a rule (see
        the module docstring) refuses it; then nothing is stored and the URL stays usable,
        unless it was used by another upload.
        """
        pending = await self._pending(token)
        stored_type = _allowed_type(content_type, pending.get("contentTypes"))
        limit = self._service.max_upload_bytes
        if pending.get("maxSize") is not None:
            limit = min(limit, int(pending["maxSize"]))
        if declared_length is not None and declared_length > limit:
            raise _too_large(limit)
        storage_id = self._service.new_storage_id()
        info = await self._service.blob_store.put(
            blob_key(storage_id), _within(chunks, limit), content_type=stored_type
        )
        if not await self._digest_matches(storage_id, info, expected_sha256):
            raise UploadRefused(
                "digest",
                f"the body's SHA-256 is {info.sha256}, the Digest header says {expected_sha256}",
            )
        return await self.record(pending["_id"], storage_id, info, stored_type)

    async def store(
        self, data: Any, *, content_type: str | None = None, sha256: str | None = None
    ) -> str:
        """``ctx.storage.store``: bytes, a binary file object or an async iterator of bytes
        become a stored file; ValidationError for a bad content type or a wrong ``sha256``."""
        content_type = check_content_type(content_type)
        storage_id = self._service.new_storage_id()
        info = await self._service.blob_store.put(
            blob_key(storage_id), as_chunks(data), content_type=content_type
        )
        if not await self._digest_matches(storage_id, info, sha256):
            raise ValidationError(
                f"ctx.storage.store: the data's SHA-256 is {info.sha256}, not {sha256}"
            )
        return await self.record(None, storage_id, info, content_type)

    async def record(
        self, upload_id: str | None, storage_id: str, info: BlobInfo, content_type: str | None
    ) -> str:
        """Record the complete blob of ``storage_id`` as a stored file, consuming the pending
        upload ``upload_id`` (if given) in the same transaction: both happen, or neither.

        If that transaction fails (the upload URL was used meanwhile, the database is down)
        the blob is deleted again, so a failed upload leaves nothing behind — unless the row
        did commit (a failure after the commit) or the call was cancelled: then the blob stays
        (at worst an orphan for GC; never a row without its blob).
        """
        row: dict[str, Any] = {"sha256": info.sha256, "size": info.size}
        if content_type is not None:
            row["contentType"] = content_type

        async def consume_and_insert(writer: DocumentWriter) -> None:
            system = writer.system_writer()
            if upload_id is not None:
                if await system.get(upload_id) is None:
                    raise _used()
                await system.delete(upload_id)
            await system.insert(STORAGE_TABLE, row, doc_id=storage_id)

        service = self._service
        try:
            await service.runtime.transact(consume_and_insert, label="storage: record an upload")
        except Exception:
            try:
                committed = await service.metadata(storage_id) is not None
            except Exception:
                committed = True  # cannot tell: keep the blob
            if not committed:
                await service.delete_blob(storage_id)
            raise
        # A file is often fetched right after its upload (the seeds' upload-then-show flow):
        # then its first download needs no database read either.
        service.remember({"storageId": storage_id, **row, "contentType": content_type})
        return storage_id

    async def _pending(self, token: str | None) -> UploadRow:
        """The pending-upload row ``token`` names, if the token may be used."""
        if not token:
            raise UploadRefused("missing", "the upload URL has no ?token=")
        try:
            upload_id, expires = self._service.signer.parse_upload_token(token)
        except InvalidSignature as exc:
            raise UploadRefused(
                "forged", f"{exc}: use the URL generate_upload_url returned"
            ) from None
        if self._service.now_ms() >= expires:
            raise UploadRefused("expired", "this upload URL has expired; generate a new one")
        async with self._service.runtime.read_snapshot() as snapshot:
            row = await snapshot.system.get(upload_id)
        if row is None:
            raise _used()
        return upload_row(row)

    async def _digest_matches(self, storage_id: str, info: BlobInfo, expected: str | None) -> bool:
        """True if there is no ``expected`` digest or the blob has it; else the blob is gone."""
        if expected is None or info.sha256 == expected.lower():
            return True
        await self._service.delete_blob(storage_id)
        return False
