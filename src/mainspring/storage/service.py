"""The storage service of a deployment: blob store, signer, URLs and stored-file rows.

A stored file is a ``_storage`` document (``sha256``, ``size``, ``contentType``) whose bytes
live in the blob store under :func:`~.files.blob_key` of its id. The id is minted *before* the bytes
are written, so the blob key is fixed up front; the row is inserted only after the blob is
complete, in one transaction that also consumes the pending upload. Blob deletion happens
after the deleting transaction commits. A crash between blob and row leaves an orphan blob,
which garbage collection finds; it never leaves a row without its blob.

The serving endpoint reads metadata through :meth:`StorageService.serving_metadata`, which
remembers the facts of recently served files (see there for why that stays correct).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..db.store import SYSTEM_TABLES, DocumentReader, DocumentWriter
from ..errors import MainspringError, ValidationError
from ..ids import new_id
from .base import BlobInfo, BlobStore
from .chunks import as_chunks
from .files import STORAGE_TABLE, blob_key, check_storage_id, metadata_of
from .local import LocalBlobStore
from .media import check_content_type
from .signing import InvalidSignature, Signer, load_signer, window_expiry

if TYPE_CHECKING:
    from ..runtime import Runtime

__all__ = [
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DEFAULT_SITE_URL",
    "StorageService",
    "UploadRefused",
    "UrlExpired",
]

log = logging.getLogger("mainspring.storage")

DEFAULT_SITE_URL = "http://127.0.0.1:3210"
DEFAULT_MAX_UPLOAD_BYTES = 5 << 30
URL_WINDOW_MS = 3_600_000
#: How many files' metadata ``serving_metadata`` remembers, and for how long.
FACTS_CACHE_SIZE = 4096
FACTS_TTL_S = 60.0


class UploadRefused(MainspringError):
    """An upload the server will not accept; ``reason`` says why (the HTTP layer maps it)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class UrlExpired(MainspringError):
    """A serving URL whose expiry has passed."""


class StorageService:
    """Storage for one runtime: ``runtime.storage``; ``ctx.storage`` is a view of it."""

    def __init__(
        self,
        runtime: Runtime,
        blob_store: BlobStore | None,
        *,
        site_url: str | None,
        max_upload_bytes: int | None,
    ) -> None:
        self.runtime = runtime
        self._blob_store = blob_store
        self._temp_dir: str | None = None
        self.site_url = (site_url or DEFAULT_SITE_URL).rstrip("/")
        self.max_upload_bytes = max_upload_bytes or DEFAULT_MAX_UPLOAD_BYTES
        self.url_window_ms = URL_WINDOW_MS
        self._signer: Signer | None = None
        # storage id -> (monotonic expiry, metadata); see serving_metadata.
        self._facts: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    @property
    def blob_store(self) -> BlobStore:
        """Where file bytes live."""
        if self._blob_store is None:
            raise MainspringError("storage is used before the runtime was started")
        return self._blob_store

    async def start(self) -> None:
        """Open the blob store and load (or create) the signing secret."""
        if self._blob_store is None:
            # No store configured (scripts, tests): a private folder, removed at stop.
            self._temp_dir = tempfile.mkdtemp(prefix="mainspring-blobs-")
            self._blob_store = LocalBlobStore(self._temp_dir, fsync=False)
        if not isinstance(self._blob_store, LocalBlobStore):
            # Check the bucket now, not at the first upload. A local folder is created on the
            # first write instead, so commands that never store a file leave no folder behind.
            await self._blob_store.open()
        self._signer = await load_signer(self.runtime.database)

    async def stop(self) -> None:
        """Close the blob store (and remove a temporary one)."""
        if self._blob_store is not None:
            await self._blob_store.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = self._blob_store = None

    @property
    def signer(self) -> Signer:
        """The deployment's signer (after ``start``)."""
        if self._signer is None:
            raise MainspringError("storage is used before the runtime was started")
        return self._signer

    def now_ms(self) -> float:
        """The runtime clock's time."""
        return self.runtime.clock.now_ms()

    def new_storage_id(self) -> str:
        """A fresh id for a file not stored yet."""
        return new_id(SYSTEM_TABLES[STORAGE_TABLE], self.now_ms())

    # -- URLs -------------------------------------------------------------------------------

    def upload_url(self, upload_id: str, expires_ms: float) -> str:
        """The URL a client POSTs a file to."""
        token = self.signer.upload_token(upload_id, expires_ms)
        return f"{self.site_url}/api/storage/upload?token={token}"

    def serving_url(
        self, storage_id: str, *, permanent: bool = False, filename: str | None = None
    ) -> str:
        """A signed URL serving the file (expiring on a window boundary unless permanent)."""
        expires = None if permanent else window_expiry(self.now_ms(), self.url_window_ms)
        params: dict[str, str] = {}
        if expires is not None:
            params["exp"] = str(expires)
        if filename:
            params["filename"] = filename
        params["sig"] = self.signer.url_signature(storage_id, expires, filename)
        return f"{self.site_url}/api/storage/{storage_id}?{urlencode(params)}"

    def check_serving_url(
        self, storage_id: str, exp: str | None, filename: str | None, sig: str | None
    ) -> int | None:
        """The URL's expiry (None: permanent) if it is genuine and current; else raise."""
        expires = None
        if exp is not None:
            if not exp.isdigit():
                raise InvalidSignature("the URL's expiry is malformed")
            expires = int(exp)
        if not self.signer.verify(sig, "get", storage_id, exp or "", filename or ""):
            raise InvalidSignature("the URL's signature is not valid")
        if expires is not None and self.now_ms() >= expires:
            raise UrlExpired("this file URL has expired; ask the app for a new one")
        return expires

    # -- reading rows -----------------------------------------------------------------------

    async def metadata(self, storage_id: str, reader: DocumentReader | None = None) -> Any:
        """The file's ``get_metadata`` dict, or None; reads in ``reader`` or a new snapshot."""
        check_storage_id(storage_id)
        if reader is not None:
            row = await reader.system.get(storage_id)
        else:
            async with self.runtime.read_snapshot() as snapshot:
                row = await snapshot.system.get(storage_id)
        return None if row is None else metadata_of(row)

    async def serving_metadata(self, storage_id: str) -> Any:
        """``metadata(storage_id)`` for the serving endpoint, remembered for a while when the
        blob store is local disk. The caller must read (or stat) the blob before answering.

        A file's metadata never changes: its row is inserted once, never patched, only
        deleted, and ids are not reused. So the cache cannot be wrong about the facts, only
        about whether the file still exists, and that the blob answers: a deletion removes the
        blob after its transaction commits and before it returns, in whichever process it
        runs, so a deleted file's URL answers 404 at once everywhere. Left over: a blob whose
        deletion failed (logged; garbage collection removes it) would be served on by a process
        that remembers the file, which the expiry (FACTS_TTL_S) bounds. Other stores are not
        cached: a remote blob check costs far more than the database read saved.

        It saves a read transaction per request (40-90 us with SQLite, 5-10% of a 1 MB
        download). ``finish_upload`` fills it too, as files are often fetched right away.
        """
        now = time.monotonic()
        entry = self._facts.get(storage_id)
        if entry is not None:
            if entry[0] > now:
                self._facts.move_to_end(storage_id)
                return entry[1]
            del self._facts[storage_id]
        meta = await self.metadata(storage_id)
        if meta is not None:
            self._remember(meta)
        return meta

    def _remember(self, meta: dict[str, Any]) -> None:
        if not isinstance(self._blob_store, LocalBlobStore):
            return
        self._facts[meta["storageId"]] = (time.monotonic() + FACTS_TTL_S, meta)
        self._facts.move_to_end(meta["storageId"])
        if len(self._facts) > FACTS_CACHE_SIZE:
            self._facts.popitem(last=False)

    async def pending_upload(self, token: str | None) -> dict[str, Any]:
        """The pending-upload row an upload token names; UploadRefused if it cannot be used."""
        if not token:
            raise UploadRefused("missing", "the upload URL has no ?token=")
        try:
            upload_id, expires = self.signer.parse_upload_token(token)
        except InvalidSignature as exc:
            raise UploadRefused(
                "forged", f"{exc}: use the URL generate_upload_url returned"
            ) from None
        if self.now_ms() >= expires:
            raise UploadRefused("expired", "this upload URL has expired; generate a new one")
        async with self.runtime.read_snapshot() as snapshot:
            row = await snapshot.system.get(upload_id)
        if row is None:
            raise UploadRefused("used", "this upload URL was already used (each works once)")
        return dict(row)

    # -- writing files ----------------------------------------------------------------------

    async def finish_upload(
        self, upload_id: str | None, storage_id: str, info: BlobInfo, content_type: str | None
    ) -> str:
        """Record a complete blob as a stored file (consuming ``upload_id``, if given).

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
                    raise UploadRefused(
                        "used", "this upload URL was already used (each works once)"
                    )
                await system.delete(upload_id)
            await system.insert(STORAGE_TABLE, row, doc_id=storage_id)

        try:
            await self.runtime.transact(consume_and_insert, label="storage: record an upload")
        except Exception:
            try:
                committed = await self.metadata(storage_id) is not None
            except Exception:
                committed = True  # cannot tell: keep the blob
            if not committed:
                await self.delete_blob(storage_id)
            raise
        # A file is often fetched right after its upload (the seeds' upload-then-show flow):
        # then its first download needs no database read either.
        self._remember(
            {
                "storageId": storage_id,
                "sha256": info.sha256,
                "size": info.size,
                "contentType": content_type,
            }
        )
        return storage_id

    async def store(
        self, data: Any, *, content_type: str | None = None, sha256: str | None = None
    ) -> str:
        """Store bytes, a binary file object or an async iterator of bytes; the new id."""
        content_type = check_content_type(content_type)
        storage_id = self.new_storage_id()
        info = await self.blob_store.put(
            blob_key(storage_id), as_chunks(data), content_type=content_type
        )
        if sha256 is not None and info.sha256 != sha256.lower():
            await self.delete_blob(storage_id)
            raise ValidationError(
                f"ctx.storage.store: the data's SHA-256 is {info.sha256}, not {sha256}"
            )
        return await self.finish_upload(None, storage_id, info, content_type)

    async def delete_file(self, writer: DocumentWriter, storage_id: str) -> bool:
        """Delete the file's row in ``writer``'s transaction and its blob once that commits;
        False if there is no such file."""
        system = writer.system_writer()
        if await system.get(storage_id) is None:
            return False
        await system.delete(storage_id)
        system.writes.after_commit.append(lambda: self.delete_blob(storage_id))
        return True

    async def delete_blob(self, storage_id: str) -> None:
        """Delete a file's bytes; a failure is logged (garbage collection retries it)."""
        self._facts.pop(storage_id, None)
        try:
            await self.blob_store.delete(blob_key(storage_id))
        except Exception:
            log.warning("could not delete the blob of %s (GC will)", storage_id, exc_info=True)
