"""What ``ctx.storage.store`` accepts, as one stream of byte chunks for ``BlobStore.put``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any

from ..errors import ValidationError
from .base import CHUNK

__all__ = ["as_chunks"]


def _as_bytes(chunk: Any) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    raise ValidationError(
        f"ctx.storage.store: chunks must be bytes, got {type(chunk).__name__}"
        + (" (encode text first)" if isinstance(chunk, str) else "")
    )


async def as_chunks(data: Any) -> AsyncIterator[bytes]:
    """Chunks of ``data``: bytes-like, an async iterable of bytes, or a binary file object
    (``read(n)``, sync or async). Nothing is read ahead: memory stays at one chunk."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data).cast("B")
        for start in range(0, len(view), CHUNK):
            yield bytes(view[start : start + CHUNK])
        return
    if hasattr(data, "__aiter__"):
        async for chunk in data:
            yield _as_bytes(chunk)
        return
    read = getattr(data, "read", None)
    if callable(read):
        while True:
            result = read(CHUNK) if inspect.iscoroutinefunction(read) else None
            if result is None:
                # A plain file: read off the event loop (it may be a slow disk or a pipe).
                chunk = await asyncio.to_thread(read, CHUNK)
            else:
                chunk = await result
            if not chunk:
                return
            yield _as_bytes(chunk)
    raise ValidationError(
        "ctx.storage.store takes bytes, a binary file object or an async iterator of bytes, "
        f"not {type(data).__name__}"
    )
