"""The serving endpoint's fast paths: small files in one read (``LocalBlobStore.read_small``)
and remembered metadata (``StorageService.serving_metadata``), on SQLite and PostgreSQL.

What must hold whatever is cached: a file deleted by another process (here: a second runtime
on the same database and blob folder, with a cache of its own) answers 404 at once, and so
does a file whose blob is gone; files larger than one read still stream whole and in ranges.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from mainspring.db import open_database
from mainspring.registry import load_app
from mainspring.runtime import Runtime
from mainspring.storage.base import BlobNotFound
from mainspring.storage.local import SMALL_READ, LocalBlobStore
from tests.support.storage_helpers import EXAMPLE_BACKEND, StorageServer, storage_server


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[StorageServer]:
    with storage_server(database_url, tmp_path, max_upload_bytes=4 * SMALL_READ) as live:
        yield live


async def _stored_url(server: StorageServer, data: bytes) -> tuple[str, str]:
    async with httpx.AsyncClient() as http:
        posted = await http.post(
            await server.upload_url(),
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
    storage_id: str = posted.json()["storageId"]
    async with server.admin() as admin:
        url: str = await admin.query("_system/storage:file_url", {"storage_id": storage_id})
    return storage_id, url


async def test_a_file_deleted_by_another_process_is_404_at_once(server: StorageServer) -> None:
    storage_id, url = await _stored_url(server, b"remembered")
    async with httpx.AsyncClient() as http:
        for _ in range(2):  # the second answer comes from the server's cached metadata
            served = await http.get(url)
            assert served.content == b"remembered"
        etag = served.headers["etag"]
        assert (await http.get(url, headers={"If-None-Match": etag})).status_code == 304
        other = Runtime(
            load_app(EXAMPLE_BACKEND),
            open_database(server.database_url),
            server.clock,
            blob_store=LocalBlobStore(server.blobs, fsync=False),
        )
        await other.start()
        try:
            await other.call("_system/storage:delete", {"storage_id": storage_id})
        finally:
            await other.stop()
        assert (await http.get(url)).status_code == 404
        assert (await http.head(url)).status_code == 404
        # Also the answers that send no bytes (304, 416) check that the file is still there.
        for headers in ({"Range": "bytes=0-3"}, {"If-None-Match": etag}, {"Range": "bytes=99-"}):
            assert (await http.get(url, headers=headers)).status_code == 404, headers


async def test_a_file_whose_blob_is_gone_is_404(server: StorageServer) -> None:
    storage_id, url = await _stored_url(server, b"short-lived")
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).status_code == 200
        (server.blobs / storage_id).unlink()
        gone = await http.get(url)
    assert (gone.status_code, gone.json()["code"]) == (404, "FileNotFound")


async def test_files_larger_than_one_read_stream_whole_and_in_ranges(
    server: StorageServer,
) -> None:
    data = os.urandom(SMALL_READ + 300_001)
    _, url = await _stored_url(server, data)
    async with httpx.AsyncClient() as http:
        whole = await http.get(url)
        assert (whole.status_code, whole.headers["content-length"]) == (200, str(len(data)))
        assert whole.content == data
        assert whole.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
        # Within one read, across the boundary, and larger than one read.
        for first, last in ((5, 1000), (SMALL_READ - 10, SMALL_READ + 10), (1, len(data) - 2)):
            part = await http.get(url, headers={"Range": f"bytes={first}-{last}"})
            assert (part.status_code, part.content) == (206, data[first : last + 1])
            assert part.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"


async def test_read_small(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs", fsync=False)

    async def chunks(data: bytes) -> AsyncIterator[bytes]:
        yield data

    data = os.urandom(SMALL_READ + 10)
    await store.put("flat", chunks(data))
    await store.put("nested/key", chunks(b"nested bytes"))
    assert store.read_small("flat", 0, SMALL_READ) == data[:SMALL_READ]
    assert store.read_small("flat", 7, 7) == b""
    assert store.read_small("flat", len(data) - 4, len(data) + 100) == data[-4:]  # the file ends
    assert store.read_small("nested/key", 7, 12) == b"bytes"
    with pytest.raises(ValueError, match="small reads are of 0 to"):
        store.read_small("flat", 0, SMALL_READ + 1)
    with pytest.raises(BlobNotFound):
        store.read_small("missing", 0, 1)
    with pytest.raises(BlobNotFound):
        store.read_small("nested", 0, 1)  # a folder, not an object
    # A symlink in the store's folder is not an object, even to a file inside it.
    (tmp_path / "blobs" / "link").symlink_to(tmp_path / "blobs" / "flat")
    with pytest.raises(BlobNotFound):
        store.read_small("link", 0, 1)
