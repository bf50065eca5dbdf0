"""What a stored file is: its system tables, its blob key, and the metadata clients see.

A stored file is a ``_storage`` document (``sha256``, ``size``, ``contentType``) whose bytes
live in the blob store under :func:`blob_key` of its id; an upload not finished yet is a
``_storage_uploads`` document. Every other storage module builds on these few facts, so they
live here, below the service and the upload rules that both need them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict, cast

from ..errors import ValidationError
from ..ids import decode_id

__all__ = [
    "STORAGE_NUMBER",
    "STORAGE_TABLE",
    "StoredFileRow",
    "UPLOADS_NUMBER",
    "UPLOADS_TABLE",
    "UploadRow",
    "blob_key",
    "check_storage_id",
    "metadata_of",
    "storage_id_of_key",
    "stored_file_row",
    "upload_row",
]

STORAGE_TABLE = "_storage"
UPLOADS_TABLE = "_storage_uploads"
#: Their fixed table numbers (a storage id names its table by number).
STORAGE_NUMBER = 1
UPLOADS_NUMBER = 6


def blob_key(storage_id: str) -> str:
    """Where the bytes of stored file ``storage_id`` live in the blob store."""
    return storage_id


def storage_id_of_key(key: str) -> str | None:
    """The storage id a blob key belongs to, or None (a key no stored file can have)."""
    return key if decode_id(key) == STORAGE_NUMBER else None


class StoredFileRow(TypedDict):
    """A ``_storage`` document: one stored file (its bytes are in the blob store)."""

    _id: str
    _creationTime: float
    sha256: str
    size: int
    contentType: NotRequired[str]


class UploadRow(TypedDict):
    """A ``_storage_uploads`` document: an issued upload URL (``kind`` "url", with its
    limits) or a presigned upload not confirmed yet (``kind`` "presigned")."""

    _id: str
    _creationTime: float
    kind: Literal["url", "presigned"]
    expiresAt: float
    maxSize: NotRequired[int]
    contentTypes: NotRequired[list[str]]
    storageId: NotRequired[str]
    filename: NotRequired[str | None]
    contentType: NotRequired[str | None]
    size: NotRequired[int]


def stored_file_row(document: Mapping[str, Any]) -> StoredFileRow:
    """A document read from ``_storage``, as its typed row (only this package writes it)."""
    return cast(StoredFileRow, document)


def upload_row(document: Mapping[str, Any]) -> UploadRow:
    """A document read from ``_storage_uploads``, as its typed row."""
    return cast(UploadRow, document)


def metadata_of(row: StoredFileRow) -> dict[str, Any]:
    """Convex's ``getMetadata`` shape of a ``_storage`` document."""
    return {
        "storageId": row["_id"],
        "sha256": row["sha256"],
        "size": row["size"],
        "contentType": row.get("contentType"),
    }


def check_storage_id(storage_id: Any) -> str:
    """``storage_id`` if it is an id of ``_storage``; ValidationError otherwise."""
    if not isinstance(storage_id, str) or decode_id(storage_id) != STORAGE_NUMBER:
        raise ValidationError(f"{storage_id!r} is not a storage id (an Id['_storage'])")
    return storage_id
