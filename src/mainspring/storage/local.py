"""The embedded default blob store: files in a folder on local disk.

An object is written to a temp file in ``<root>/.incoming/``, fsynced, then renamed into
place (and the directory fsynced), so a reader never sees a partial object and a crash
leaves at most a temp file, which ``list`` reports as incomplete for garbage collection.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from .base import CHUNK, BlobInfo, BlobNotFound, BlobStore, ListedBlob, check_key

__all__ = ["LocalBlobStore"]

_INCOMING = ".incoming"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore(BlobStore):
    """Objects as files under ``root``; ``fsync=False`` trades durability for speed."""

    kind = "local"

    def __init__(self, root: str | Path, *, fsync: bool = True) -> None:
        self.root = Path(root).resolve()
        self.fsync = fsync

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    async def open(self) -> None:
        (self.root / _INCOMING).mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        # check_key already forbids '..'; this guards against symlinks inside the root too.
        if self.root not in path.parents:
            raise BlobNotFound(f"no object {key!r}")
        return path

    async def put(
        self, key: str, chunks: AsyncIterator[bytes], *, content_type: str | None = None
    ) -> BlobInfo:
        target = self._path(key)
        incoming = self.root / _INCOMING
        incoming.mkdir(parents=True, exist_ok=True)
        temp = incoming / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        try:
            with open(temp, "wb") as out:  # noqa: ASYNC230 - see the comment below
                async for chunk in chunks:
                    # Local disk writes are fast enough to stay on the loop; a thread hop per
                    # chunk costs more than the write for the chunk sizes HTTP delivers.
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                out.flush()
                if self.fsync:
                    await asyncio.to_thread(os.fsync, out.fileno())
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
            if self.fsync:
                await asyncio.to_thread(_fsync_dir, target.parent)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return BlobInfo(size, digest.hexdigest())

    async def get(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = open(path, "rb")  # noqa: SIM115, ASYNC230 - closed below; local disk
        except FileNotFoundError:
            raise BlobNotFound(f"no object {key!r}") from None
        try:
            handle.seek(start)
            remaining = None if end is None else max(0, end - start)
            while remaining is None or remaining > 0:
                chunk = handle.read(CHUNK if remaining is None else min(CHUNK, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def stat(self, key: str) -> tuple[int, float] | None:
        try:
            info = self._path(key).stat()
        except (FileNotFoundError, BlobNotFound):
            return None
        return info.st_size, info.st_mtime * 1000.0

    async def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except BlobNotFound:
            return

    async def list(self, prefix: str = "") -> AsyncIterator[ListedBlob]:
        for path in sorted(self.root.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(self.root).as_posix()
            info = path.stat()
            if rel.startswith(_INCOMING + "/"):
                yield ListedBlob(rel, info.st_size, info.st_mtime * 1000.0, incomplete=True)
            elif rel.startswith(prefix):
                yield ListedBlob(rel, info.st_size, info.st_mtime * 1000.0)
