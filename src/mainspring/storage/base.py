"""The blob store interface: where file bytes live (the database keeps their metadata).

Contract (every implementation passes ``tests/contract/test_blob_store.py``):

* ``put(key, chunks)`` consumes an async iterator of byte chunks without holding the whole
  object in memory, and makes the object visible under ``key`` only once every byte is
  durably stored. If the iterator raises, or the process dies, no object (and no partial
  object) is visible under ``key``. It returns the size and the SHA-256 of what it stored.
  ``put`` on an existing key replaces it atomically.
* ``get(key, start, end)`` streams bytes ``[start, end)`` of the object (``end=None``: to
  the end) in chunks; :class:`BlobNotFound` if there is no such object.
* ``stat(key)`` is the object's size and last-modified time, or None.
* ``delete(key)`` removes the object; deleting a missing key is not an error.
* ``list(prefix)`` yields every object under ``prefix`` (for garbage collection), including
  ones left behind by uploads that never finished where the backend can see them
  (``incomplete=True``); ``discard(listed)`` removes what ``list`` yielded, leftovers included
  (an open S3 multipart upload has no key of its own to ``delete``: it is aborted by its id).
* Keys are ``[A-Za-z0-9._/-]`` paths without ``..`` segments (:func:`check_key`); anything
  else is a :class:`~mainspring.errors.ValidationError` — no key can escape the store.
* Backends that can hand out direct URLs (S3) implement ``presign_put`` / ``presign_get``;
  others raise :class:`~mainspring.errors.NotAllowedError`.
* Failures of the backend itself (unreachable, a refused request) are :class:`BlobStoreError`;
  a missing bucket or rejected credentials are a :class:`~mainspring.errors.ConfigurationError`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ..errors import MainspringError, NotAllowedError, ValidationError

__all__ = [
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobStoreError",
    "ListedBlob",
    "PresignedUrl",
    "check_key",
]

_KEY = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")
CHUNK = 256 * 1024


class BlobNotFound(MainspringError):
    """No object is stored under the key."""


class BlobStoreError(MainspringError):
    """The blob store failed: unreachable, or it refused or broke off a request."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """What ``put`` stored."""

    size: int
    sha256: str  # lowercase hex


@dataclass(frozen=True, slots=True)
class ListedBlob:
    """An object found by ``list``."""

    key: str
    size: int
    modified_ms: float
    incomplete: bool = False  # a left-over partial upload (temp file, open multipart upload)
    upload_id: str | None = None  # the open multipart upload's id, for ``discard`` (S3)


@dataclass(frozen=True, slots=True)
class PresignedUrl:
    """A URL a client may use directly, the method it must use, and headers it must send."""

    url: str
    method: str
    headers: dict[str, str]
    expires_ms: float


def check_key(key: str) -> str:
    """``key`` if it is a safe object key; ValidationError otherwise."""
    if (
        not isinstance(key, str)
        or not _KEY.match(key)
        or len(key) > 512
        or any(part in (".", "..") for part in key.split("/"))
    ):
        raise ValidationError(f"invalid blob key {key!r}")
    return key


class BlobStore(ABC):
    """Stores file bytes by key; see the module docstring for the contract."""

    #: "local" or "s3"
    kind: str

    async def open(self) -> None:
        """Prepare the store (create folders, check the bucket)."""
        return None

    async def close(self) -> None:
        """Release connections."""
        return None

    @abstractmethod
    async def put(
        self, key: str, chunks: AsyncIterator[bytes], *, content_type: str | None = None
    ) -> BlobInfo:
        """Store the object atomically; see the contract."""

    @abstractmethod
    def get(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes ``[start, end)`` of the object."""

    @abstractmethod
    async def stat(self, key: str) -> tuple[int, float] | None:
        """``(size, modified_ms)`` of the object, or None."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object (missing is fine)."""

    @abstractmethod
    def list(self, prefix: str = "") -> AsyncIterator[ListedBlob]:
        """Every object (and visible partial upload) under ``prefix``."""

    async def discard(self, blob: ListedBlob) -> None:
        """Remove an object or leftover that ``list`` yielded (missing is fine)."""
        await self.delete(blob.key)

    async def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_s: int
    ) -> PresignedUrl:
        """A URL the client PUTs the object to directly (S3-compatible stores only)."""
        raise NotAllowedError(f"the {self.kind} blob store cannot presign uploads")

    async def presign_get(self, key: str, *, expires_s: int) -> PresignedUrl:
        """A URL the client GETs the object from directly (S3-compatible stores only)."""
        raise NotAllowedError(f"the {self.kind} blob store cannot presign downloads")
