"""Shared pieces of the storage tests: the example app served live, tokens, and looks at
what is really stored (the database's ``_storage`` rows and the blob folder's files)."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from mainspring import AsyncClient, SystemClock, VirtualClock
from mainspring.db import open_database
from mainspring.db.store import DocumentReader, DocumentStore
from mainspring.storage.base import PresignedUrl
from mainspring.storage.local import LocalBlobStore
from tests.support.live_server import LiveServer, live_server
from tests.support.paths import EXAMPLE_APP

EXAMPLE_BACKEND = EXAMPLE_APP / "backend"


def _example_auth() -> Any:
    # By path: importing the functions folder as a package would shadow the stdlib's http.
    spec = importlib.util.spec_from_file_location("example_app_auth", EXAMPLE_BACKEND / "auth.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_AUTH = _example_auth()


def token(subject: str = "ada") -> str:
    """A bearer token the example app accepts (valid for a day of real time)."""
    claims = {
        "sub": subject,
        "iss": _AUTH.ISSUER,
        "aud": _AUTH.AUDIENCE,
        "exp": time.time() + 86_400,
    }
    return jwt.encode(claims, _AUTH.SECRET, algorithm="HS256")


class PresigningStore(LocalBlobStore):
    """A local store that pretends to presign PUTs, to test the service around presigned
    uploads without an S3 server (the S3 store's own presigning has its contract suite)."""

    kind = "s3"

    async def presign_put(
        self, key: str, *, content_type: str, content_length: int | None, expires_s: int
    ) -> PresignedUrl:
        headers = {"Content-Type": content_type}
        return PresignedUrl(f"https://bucket.invalid/{key}?signed", "PUT", headers, 1e15)


@dataclass
class StorageServer:
    """The example app served live, with its virtual clock and blob folder."""

    live: LiveServer
    clock: VirtualClock
    blobs: Path
    database_url: str

    @property
    def url(self) -> str:
        return self.live.url

    def client(self, subject: str | None = "ada") -> AsyncClient:
        """A client signed in as ``subject`` (None: anonymous)."""
        return AsyncClient(self.url, auth=None if subject is None else token(subject))

    def admin(self) -> AsyncClient:
        """A client with the admin key (may call ``_system/storage:*``)."""
        return AsyncClient(self.url, admin_key=self.live.admin_key)

    async def upload_url(self, **limits: Any) -> str:
        """An upload URL, with limits (``max_size``, ``content_types``, ``expires_s``)."""
        async with self.admin() as admin:
            url: str = await admin.mutation("_system/storage:create_upload", limits)
            return url

    def blob_files(self) -> list[str]:
        """Every complete blob in the store."""
        return blob_files(self.blobs)

    def partial_files(self) -> list[Path]:
        """Temp files of uploads in progress (or left by a crash)."""
        return sorted((self.blobs / ".incoming").glob("*"))

    async def rows(self, table: str = "_storage") -> list[dict[str, Any]]:
        """The rows of a system table, read over a connection of our own."""
        return await system_rows(self.database_url, table)


def blob_files(root: Path) -> list[str]:
    """Every complete blob under a local store's ``root`` (not the temp files of uploads)."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and ".incoming" not in p.parts
    )


async def system_rows(database_url: str, table: str = "_storage") -> list[dict[str, Any]]:
    """The rows of a system table, read over a connection of our own."""
    database = open_database(database_url)
    await database.open()
    try:
        store = DocumentStore(database, SystemClock())
        async with database.transaction(write=False) as tx:
            await store.ensure_loaded(tx)
            rows: list[dict[str, Any]] = (
                await DocumentReader(store, tx).system.query(table).collect()
            )
            return rows
    finally:
        await database.close()


@contextmanager
def storage_server(
    database_url: str, tmp_path: Path, *, max_upload_bytes: int = 1 << 20
) -> Iterator[StorageServer]:
    """The example app on ``database_url`` with a local blob folder in ``tmp_path``."""
    # Now, moved back to the start of the hour: signed URLs are stable within hour-aligned
    # windows, and tests that move time by a minute must not cross a boundary by chance.
    hour = 3_600_000.0
    clock = VirtualClock(time.time() * 1000.0 // hour * hour + 1_000.0)
    blobs = tmp_path / "blobs"
    store = LocalBlobStore(blobs, fsync=False)
    with live_server(
        database_url,
        EXAMPLE_BACKEND,
        clock=clock,
        blob_store=store,
        max_upload_bytes=max_upload_bytes,
    ) as live:
        yield StorageServer(live, clock, blobs, database_url)
