"""File storage end to end over HTTP with the S3 blob store, on SQLite and PostgreSQL:
the upload → serve (ranges, conditional) → delete flow on a moto bucket, and the presigned
direct-to-bucket flow against s3rver (which checks the PUT's signature)."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from mainspring import AsyncClient, VirtualClock
from tests.support.live_server import LiveServer, live_server
from tests.support.storage_helpers import EXAMPLE_BACKEND, token

if TYPE_CHECKING:
    from tests.support.s3_servers import S3Server

pytest_plugins = ["tests.support.s3_servers"]

DATA = os.urandom(300_000)


def _objects(server: S3Server, bucket: str) -> list[str]:
    listed = server.client().list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture
def moto_live(
    database_url: str, moto_server: S3Server
) -> Iterator[tuple[LiveServer, S3Server, str]]:
    bucket = moto_server.new_bucket()
    clock = VirtualClock(time.time() * 1000.0)
    store = moto_server.store(bucket)
    with live_server(database_url, EXAMPLE_BACKEND, clock=clock, blob_store=store) as live:
        yield live, moto_server, bucket


@pytest.fixture
def s3rver_live(
    database_url: str, s3rver_server: S3Server
) -> Iterator[tuple[LiveServer, S3Server, str]]:
    bucket = s3rver_server.new_bucket()
    clock = VirtualClock(time.time() * 1000.0)
    store = s3rver_server.store(bucket)
    with live_server(database_url, EXAMPLE_BACKEND, clock=clock, blob_store=store) as live:
        yield live, s3rver_server, bucket


async def test_upload_serve_ranges_delete_on_s3(
    moto_live: tuple[LiveServer, S3Server, str],
) -> None:
    live, s3, bucket = moto_live
    async with AsyncClient(live.url, auth=token("ada")) as ada, httpx.AsyncClient() as http:
        upload_url = await ada.mutation("files:generate_upload_url")
        posted = await http.post(upload_url, content=DATA, headers={"Content-Type": "image/png"})
        assert posted.status_code == 200, posted.text
        storage_id = posted.json()["storageId"]
        assert _objects(s3, bucket) == [storage_id]
        file_id = await ada.mutation(
            "files:save_file",
            {"storage_id": storage_id, "name": "a.png", "type": "image/png", "size": len(DATA)},
        )
        [listed] = await ada.query("files:list_with_urls")
        url = listed["url"]

        served = await http.get(url)
        assert served.status_code == 200 and served.content == DATA
        etag = served.headers["etag"]
        assert etag == f'"{hashlib.sha256(DATA).hexdigest()}"'
        assert served.headers["content-type"] == "image/png"

        ranged = await http.get(url, headers={"Range": "bytes=1000-1999"})
        assert ranged.status_code == 206 and ranged.content == DATA[1000:2000]
        assert ranged.headers["content-range"] == f"bytes 1000-1999/{len(DATA)}"
        suffix = await http.get(url, headers={"Range": "bytes=-10"})
        assert suffix.status_code == 206 and suffix.content == DATA[-10:]
        beyond = await http.get(url, headers={"Range": f"bytes={len(DATA)}-"})
        assert beyond.status_code == 416
        head = await http.head(url)
        assert head.status_code == 200 and head.headers["content-length"] == str(len(DATA))
        cached = await http.get(url, headers={"If-None-Match": etag})
        assert cached.status_code == 304

        metadata: dict[str, Any] = await ada.query("files:get_metadata", {"storage_id": storage_id})
        assert metadata["size"] == len(DATA)
        await ada.mutation("files:delete_file", {"id": file_id})
        assert (await http.get(url)).status_code == 404
        assert _objects(s3, bucket) == []


async def test_presigned_put_confirm_serve_delete_on_s3rver(
    s3rver_live: tuple[LiveServer, S3Server, str],
) -> None:
    live, s3, bucket = s3rver_live
    async with AsyncClient(live.url, auth=token("ada")) as ada, httpx.AsyncClient() as http:
        signed = await ada.action(
            "storage:get_upload_url", {"filename": "clip.mp4", "content_type": "video/mp4"}
        )
        assert "X-Amz-Signature=" in signed["upload_url"]
        # The signature covers the content type: another one is refused by the bucket.
        wrong = await http.put(
            signed["upload_url"], content=DATA, headers={"Content-Type": "text/html"}
        )
        assert wrong.status_code == 403
        put = await http.put(
            signed["upload_url"], content=DATA, headers={"Content-Type": "video/mp4"}
        )
        assert put.status_code == 200, put.text
        storage_id = signed["storage_id"]
        file_id = await ada.action(
            "storage:confirm_media", {"storage_id": storage_id, "name": "clip.mp4"}
        )
        metadata = await ada.query("files:get_metadata", {"storage_id": storage_id})
        assert metadata == {
            "storageId": storage_id,
            "sha256": hashlib.sha256(DATA).hexdigest(),
            "size": len(DATA),
            "contentType": "video/mp4",
        }
        url = await ada.query("files:get_url", {"storage_id": storage_id})
        served = await http.get(url, headers={"Range": "bytes=0-99"})
        assert served.status_code == 206 and served.content == DATA[:100]
        assert (await http.get(url)).content == DATA
        await ada.mutation("files:delete_file", {"id": file_id})
        assert await ada.query("files:get_metadata", {"storage_id": storage_id}) is None
        assert (await http.get(url)).status_code == 404
        assert _objects(s3, bucket) == []
