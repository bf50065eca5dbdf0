"""The storage service of a deployment: blob store, signer, URLs and stored-file rows.

A stored file is a ``_storage`` document whose bytes live in the blob store under
:func:`~.files.blob_key` of its id. Files come in through :attr:`StorageService.uploads`
(:mod:`.uploads`), which owns every rule an upload must pass and records a file only once its
blob is complete. Deletion removes the row in a transaction and the blob after it commits. A
crash between blob and row leaves an orphan blob, which garbage collection finds; it never
leaves a row without its blob.

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

from ..db.store import DocumentReader, DocumentWriter
from ..errors import MainspringError
from ..ids import new_id
from .base import BlobStore
from .files import STORAGE_NUMBER, blob_key, check_storage_id, metadata_of, stored_file_row
from .local import LocalBlobStore
from .signing import InvalidSignature, Signer, load_signer, window_expiry
from .uploads import Uploads

if TYPE_CHECKING:
    from ..kernel import Kernel

__all__ = [
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DEFAULT_SITE_URL",
    "StorageService",
    "UrlExpired",
]

log = logging.getLogger("mainspring.storage")

DEFAULT_SITE_URL = "http://127.0.0.1:3210"
DEFAULT_MAX_UPLOAD_BYTES = 5 << 30
URL_WINDOW_MS = 3_600_000
#: How many files' metadata ``serving_metadata`` remembers, and for how long.
FACTS_CACHE_SIZE = 4096
FACTS_TTL_S = 60.0


class UrlExpired(MainspringError):
    """A serving URL whose expiry has passed."""


class StorageService:
    """Storage for one runtime: ``runtime.storage``; ``ctx.storage`` is a view of it."""

    def __init__(
        self,
        runtime: Kernel,
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
        #: Where bytes become stored files (upload URLs, ``ctx.storage.store``, presigned).
        self.uploads = Uploads(self)
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
        return new_id(STORAGE_NUMBER, self.now_ms())

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
        return None if row is None else metadata_of(stored_file_row(row))

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
        download). Uploads fill it too, as files are often fetched right away.
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
            self.remember(meta)
        return meta

    def remember(self, meta: dict[str, Any]) -> None:
        """Note a file's metadata for ``serving_metadata`` (local blob stores only)."""
        if not isinstance(self._blob_store, LocalBlobStore):
            return
        self._facts[meta["storageId"]] = (time.monotonic() + FACTS_TTL_S, meta)
        self._facts.move_to_end(meta["storageId"])
        if len(self._facts) > FACTS_CACHE_SIZE:
            self._facts.popitem(last=False)

    # -- writing files ----------------------------------------------------------------------

    async def store(
        self, data: Any, *, content_type: str | None = None, sha256: str | None = None
    ) -> str:
        """Store bytes, a binary file object or an async iterator of bytes; the new id
        (``ctx.storage.store`` outside a function: scripts, the CLI)."""
        return await self.uploads.store(data, content_type=content_type, sha256=sha256)

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
