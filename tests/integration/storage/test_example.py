"""The example app's file-storage modules (``files``, ``images``, ``storage``, ``http``):
in the test harness, and live over HTTP where the flow needs real URLs (the image resize
service fetches the file's URL itself)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from mainspring import AppError, NotAllowedError, ValidationError
from mainspring.testing import TestApp
from tests.support.storage_helpers import (
    EXAMPLE_BACKEND,
    PresigningStore,
    StorageServer,
    storage_server,
    token,
)


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> AsyncIterator[TestApp]:
    store = PresigningStore(tmp_path / "blobs", fsync=False)
    async with TestApp(EXAMPLE_BACKEND, database=database_url, blob_store=store, crons=False) as t:
        yield t


async def test_files_module_records_lists_and_deletes(app: TestApp) -> None:
    ada, bob = app.with_identity("ada"), app.with_identity("bob")
    with pytest.raises(AppError, match="Unauthenticated"):
        await app.mutation("files:generate_upload_url")
    assert "/api/storage/upload?token=" in await ada.mutation("files:generate_upload_url")
    storage_id = await app.runtime.storage.store(b"%PDF-1.7", content_type="application/pdf")
    args = {"storage_id": storage_id, "name": "a.pdf", "type": "application/pdf", "size": 8}
    with pytest.raises(AppError, match="Unauthenticated"):
        await app.mutation("files:save_file", args)
    file_id = await ada.mutation("files:save_file", args)
    [listed] = await app.query("files:list_with_urls")
    assert listed["uploaded_by"] == "ada" and listed["uploaded_at"] == app.clock.now_ms()
    assert listed["url"].startswith(f"http://127.0.0.1:3210/api/storage/{storage_id}?exp=")
    assert "filename=a.pdf" in listed["url"]
    assert (await app.query("files:get_file_with_url", {"id": file_id}))["url"] == listed["url"]
    assert (await app.query("files:get_metadata", {"storage_id": storage_id}))["size"] == 8
    with pytest.raises(AppError, match="Forbidden"):
        await bob.mutation("files:delete_file", {"id": file_id})
    await ada.mutation("files:delete_file", {"id": file_id})
    assert await app.query("files:get", {"id": file_id}) is None
    assert await app.query("files:get_url", {"storage_id": storage_id}) is None
    assert await app.runtime.storage.blob_store.stat(storage_id) is None
    with pytest.raises(AppError, match="File not found"):
        await ada.mutation("files:save_file", args)  # the stored file is gone


async def test_save_processed_replaces_and_cleans_up(app: TestApp) -> None:
    original = await app.runtime.storage.store(b"img", content_type="image/png")
    file_id = await app.with_identity("ada").mutation(
        "files:save_file",
        {"storage_id": original, "name": "i.png", "type": "image/png", "size": 3},
    )
    first = await app.runtime.storage.store(b"v1", content_type="image/jpeg")
    second = await app.runtime.storage.store(b"v2", content_type="image/jpeg")
    args = {"original_id": file_id, "processed_storage_id": first}
    assert await app.mutation("files:save_processed", args) is True
    assert await app.mutation("files:save_processed", {**args, "processed_storage_id": second})
    assert (await app.query("files:get", {"id": file_id}))["processed_storage_id"] == second
    assert await app.query("files:get_metadata", {"storage_id": first}) is None
    await app.with_identity("ada").mutation("files:delete_file", {"id": file_id})
    assert await app.query("files:get_metadata", {"storage_id": second}) is None


async def test_r2_style_presigned_upload_then_confirm(app: TestApp) -> None:
    ada = app.with_identity("ada")
    with pytest.raises(AppError, match="Unauthenticated"):
        await app.action(
            "storage:get_upload_url", {"filename": "x.mp4", "content_type": "video/mp4"}
        )
    signed = await ada.action(
        "storage:get_upload_url", {"filename": "clip.mp4", "content_type": "video/mp4"}
    )
    assert set(signed) == {"upload_url", "public_url", "storage_id"}
    assert signed["upload_url"].startswith("https://bucket.invalid/")

    async def clip() -> AsyncIterator[bytes]:
        yield b"\x00\x00\x00\x18ftypmp42"

    await app.runtime.storage.blob_store.put(signed["storage_id"], clip())  # the browser's PUT
    file_id = await ada.action(
        "storage:confirm_media", {"storage_id": signed["storage_id"], "name": "clip.mp4"}
    )
    file = await app.query("files:get", {"id": file_id})
    assert (file["type"], file["size"], file["uploaded_by"]) == ("video/mp4", 12, "ada")


async def test_r2_upload_url_on_the_local_store_says_what_is_needed(tmp_path: Path) -> None:
    async with TestApp(EXAMPLE_BACKEND, crons=False) as local:
        with pytest.raises(NotAllowedError, match="MAINSPRING_S3_BUCKET"):
            await local.with_identity("ada").action(
                "storage:get_upload_url", {"filename": "a.mp4", "content_type": "video/mp4"}
            )
        with pytest.raises(ValidationError):
            await local.with_identity("ada").action("storage:get_upload_url", {"filename": "a.mp4"})


# -- live: the resize service and the owner-only HTTP route -----------------------------------


class FakeResizer:
    """A stand-in for the external resize service: fetches ``imageUrl``, answers a "resized"
    image (the original reversed, prefixed with the width) as JPEG."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail = False
        resizer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                resizer.requests.append(body)
                if resizer.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                image = httpx.get(body["imageUrl"]).content
                out = f"{body['width']}:".encode() + image[::-1]
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/resize"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def resizer() -> Iterator[FakeResizer]:
    fake = FakeResizer()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[StorageServer]:
    with storage_server(database_url, tmp_path) as live:
        yield live


async def _upload_file(server: StorageServer, data: bytes, owner: str = "ada") -> str:
    async with server.client(owner) as client, httpx.AsyncClient() as http:
        url = await client.mutation("files:generate_upload_url")
        posted = await http.post(url, content=data, headers={"Content-Type": "image/png"})
        file_id: str = await client.mutation(
            "files:save_file",
            {
                "storage_id": posted.json()["storageId"],
                "name": "photo.png",
                "type": "image/png",
                "size": len(data),
            },
        )
        return file_id


async def test_process_image_with_an_external_resizer(
    server: StorageServer, resizer: FakeResizer
) -> None:
    image = b"\x89PNG" + bytes(range(100))
    file_id = await _upload_file(server, image)
    async with server.client() as ada:
        with pytest.raises(AppError, match="IMAGE_RESIZE_URL is not set"):
            await ada.action("images:process_image", {"file_id": file_id})
        async with server.admin() as admin:
            await admin.mutation(
                "_system/env:set", {"name": "IMAGE_RESIZE_URL", "value": resizer.url}
            )
        processed = await ada.action("images:process_image", {"file_id": file_id})
        [request] = resizer.requests
        assert request["width"] == 800
        assert (
            f"/api/storage/{(await ada.query('files:get', {'id': file_id}))['storage_id']}?"
            in (request["imageUrl"])
        )
        file = await ada.query("files:get", {"id": file_id})
        assert file["processed_storage_id"] == processed
        meta = await ada.query("files:get_metadata", {"storage_id": processed})
        expected = b"800:" + image[::-1]
        assert meta["contentType"] == "image/jpeg"
        assert meta["sha256"] == hashlib.sha256(expected).hexdigest()
        async with httpx.AsyncClient() as http:
            url = await ada.query("files:get_url", {"storage_id": processed})
            assert (await http.get(url)).content == expected
        resizer.fail = True
        before = server.blob_files()
        with pytest.raises(AppError, match="answered 500"):
            await ada.action("images:process_image", {"file_id": file_id})
        assert server.blob_files() == before  # nothing stored for a failed resize


async def test_private_files_are_served_to_their_owner_only(server: StorageServer) -> None:
    data = b"\x89PNG secret"
    file_id = await _upload_file(server, data, owner="ada")
    url = f"{server.url}/http/private-files/{file_id}"
    async with httpx.AsyncClient() as http:
        mine = await http.get(url, headers={"Authorization": f"Bearer {token('ada')}"})
        assert (mine.status_code, mine.content) == (200, data)
        assert mine.headers["content-type"] == "image/png"
        assert mine.headers["x-content-type-options"] == "nosniff"
        assert mine.headers["content-disposition"].startswith('inline; filename="photo.png"')
        theirs = await http.get(url, headers={"Authorization": f"Bearer {token('bob')}"})
        assert theirs.status_code == 403
        assert (await http.get(url)).status_code == 401
        missing = await http.get(
            f"{server.url}/http/private-files/nonsense",
            headers={"Authorization": f"Bearer {token('ada')}"},
        )
        assert missing.status_code == 404
