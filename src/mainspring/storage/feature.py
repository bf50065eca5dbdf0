"""What file storage brings to a deployment: ``_storage`` (the files), ``_storage_uploads``
(issued upload URLs and presigned uploads) and the ``_system/storage:*`` functions."""

from __future__ import annotations

from ..features import Feature, SystemTable
from .files import STORAGE_NUMBER, STORAGE_TABLE, UPLOADS_NUMBER, UPLOADS_TABLE
from .system import SYSTEM_FUNCTIONS

__all__ = ["FEATURE"]

FEATURE = Feature(
    "storage",
    tables=[
        SystemTable(STORAGE_TABLE, STORAGE_NUMBER),
        SystemTable(
            UPLOADS_TABLE,
            UPLOADS_NUMBER,
            {"by_storage_id": ("storageId",), "by_expires": ("expiresAt",)},
        ),
    ],
    functions=SYSTEM_FUNCTIONS,
)
