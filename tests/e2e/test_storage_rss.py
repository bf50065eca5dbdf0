"""Uploads against a real ``mainspring serve`` process: a 1 GiB upload streams through without
holding the file in memory (the server's peak resident set size, VmHWM, stays under 200 MB),
and a server killed mid-upload leaves no file behind (only a partial temp file for GC)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from mainspring import Client
from mainspring.storage.base import ListedBlob
from mainspring.storage.local import LocalBlobStore
from tests.support.paths import EXAMPLE_APP
from tests.support.server_process import mainspring_env, start_server
from tests.support.storage_helpers import blob_files, system_rows

GIB = 1 << 30
BLOCK = os.urandom(1 << 20)
LIMIT_BYTES = 200 * 1000 * 1000


def peak_rss_bytes(pid: int) -> int:
    """The process's high-water mark of resident memory (VmHWM, in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


def body() -> Iterator[bytes]:
    for _ in range(GIB // len(BLOCK)):
        yield BLOCK


def test_a_1_gib_upload_keeps_the_server_under_200_mb(tmp_path: Path) -> None:
    digest = hashlib.sha256()
    for block in body():
        digest.update(block)
    admin_key = "ms_admin_rss_test_key"
    env = mainspring_env(
        MAINSPRING_DB_URL=str(tmp_path / "db.sqlite3"),
        MAINSPRING_STORAGE_DIR=str(tmp_path / "blobs"),
        MAINSPRING_MAX_UPLOAD_SIZE="2GiB",
        MAINSPRING_ADMIN_KEY=admin_key,
        MAINSPRING_LOG_LEVEL="warning",
    )
    with start_server("serve", EXAMPLE_APP, env, tmp_path / "server.log") as server:
        pid = server.process.pid
        with Client(server.url, admin_key=admin_key) as admin:
            url = admin.mutation("_system/storage:create_upload", {})
            before = peak_rss_bytes(pid)
            started = time.monotonic()
            response = httpx.post(
                url,
                content=body(),
                headers={
                    "Content-Type": "video/mp4",
                    "Content-Length": str(GIB),
                    "Digest": "sha-256=" + base64.b64encode(digest.digest()).decode(),
                },
                timeout=300,
            )
            elapsed = time.monotonic() - started
            peak = peak_rss_bytes(pid)
            assert response.status_code == 200, response.text
            storage_id = response.json()["storageId"]
            metadata = admin.query("files:get_metadata", {"storage_id": storage_id})
    print(
        f"\n1 GiB upload: {elapsed:.1f}s ({GIB / elapsed / 1e6:.0f} MB/s), server peak RSS "
        f"{before / 1e6:.0f} MB before, {peak / 1e6:.0f} MB after"
    )
    assert metadata["size"] == GIB
    assert metadata["sha256"] == digest.hexdigest()
    assert (tmp_path / "blobs" / storage_id).stat().st_size == GIB
    assert peak < LIMIT_BYTES, f"the server's peak RSS was {peak / 1e6:.0f} MB"


def test_a_server_killed_mid_upload_leaves_no_file(tmp_path: Path) -> None:
    admin_key = "ms_admin_kill_test_key"
    blobs = tmp_path / "blobs"
    env = mainspring_env(
        MAINSPRING_DB_URL=str(tmp_path / "db.sqlite3"),
        MAINSPRING_STORAGE_DIR=str(blobs),
        MAINSPRING_ADMIN_KEY=admin_key,
        MAINSPRING_LOG_LEVEL="warning",
    )
    with start_server("serve", EXAMPLE_APP, env, tmp_path / "one.log") as server:
        with Client(server.url, admin_key=admin_key) as admin:
            url = admin.mutation("_system/storage:create_upload", {})
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port)) as sock:
            sock.sendall(
                f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Content-Length: {10 << 20}\r\n\r\n".encode()
                + b"x" * (2 << 20)
            )
            deadline = time.monotonic() + 10
            while not list((blobs / ".incoming").glob("*")) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert list((blobs / ".incoming").glob("*")), "the upload never started streaming"
            os.killpg(server.process.pid, signal.SIGKILL)  # the server we started, mid-upload
            server.process.wait(10)
    assert blob_files(blobs) == []
    assert asyncio.run(system_rows(str(tmp_path / "db.sqlite3"))) == []
    leftovers = asyncio.run(_listed(LocalBlobStore(blobs)))
    assert leftovers and all(blob.incomplete for blob in leftovers)  # for GC to remove
    with start_server("serve", EXAMPLE_APP, env, tmp_path / "two.log") as server:
        retried = httpx.post(url.replace(parts.netloc, urlsplit(server.url).netloc), content=b"ok")
        assert retried.status_code == 200  # the URL was not consumed by the dead upload


async def _listed(store: LocalBlobStore) -> list[ListedBlob]:
    return [blob async for blob in store.list()]
