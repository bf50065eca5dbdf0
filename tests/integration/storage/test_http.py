"""File storage end to end over HTTP, on SQLite and PostgreSQL with the local blob store:
the seeds' upload → save → list → download → metadata → delete flow, then each refusal."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mainspring import AppError
from tests.support.storage_helpers import StorageServer, storage_server

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[StorageServer]:
    with storage_server(database_url, tmp_path) as live:
        yield live


async def upload(url: str, data: bytes, content_type: str | None = "image/png") -> httpx.Response:
    headers = {} if content_type is None else {"Content-Type": content_type}
    async with httpx.AsyncClient() as http:
        return await http.post(url, content=data, headers=headers)


async def test_seed_flow_upload_save_list_download_delete(server: StorageServer) -> None:
    async with server.client(None) as anonymous:
        with pytest.raises(AppError, match="Unauthenticated"):
            await anonymous.mutation("files:generate_upload_url")
    async with server.client("ada") as ada:
        upload_url = await ada.mutation("files:generate_upload_url")
        assert upload_url.startswith(f"{server.url}/api/storage/upload?token=")
        response = await upload(upload_url, PNG)
        assert response.status_code == 200, response.text
        storage_id = response.json()["storageId"]
        file_id = await ada.mutation(
            "files:save_file",
            {"storage_id": storage_id, "name": "cät.png", "type": "image/png", "size": len(PNG)},
        )
        [listed] = await ada.query("files:list_with_urls")
        assert (listed["_id"], listed["storage_id"], listed["uploaded_by"]) == (
            file_id,
            storage_id,
            "ada",
        )
        async with httpx.AsyncClient() as http:
            served = await http.get(listed["url"])
        assert served.status_code == 200
        assert served.content == PNG
        assert served.headers["content-type"] == "image/png"
        assert served.headers["etag"] == f'"{hashlib.sha256(PNG).hexdigest()}"'
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["content-disposition"] == (
            "inline; filename=\"c_t.png\"; filename*=UTF-8''c%C3%A4t.png"
        )
        assert re.fullmatch(r"private, max-age=\d+, immutable", served.headers["cache-control"])
        assert await ada.query("files:get_metadata", {"storage_id": storage_id}) == {
            "storageId": storage_id,
            "sha256": hashlib.sha256(PNG).hexdigest(),
            "size": len(PNG),
            "contentType": "image/png",
        }
        with_url = await ada.query("files:get_file_with_url", {"id": file_id})
        assert with_url["url"] == listed["url"]
        assert server.blob_files() == [storage_id]
        async with server.client("bob") as bob:
            with pytest.raises(AppError, match="Forbidden"):
                await bob.mutation("files:delete_file", {"id": file_id})
        await ada.mutation("files:delete_file", {"id": file_id})
        async with httpx.AsyncClient() as http:
            assert (await http.get(listed["url"])).status_code == 404
        assert await ada.query("files:get_metadata", {"storage_id": storage_id}) is None
        assert await ada.query("files:get_url", {"storage_id": storage_id}) is None
        assert await ada.query("files:list_with_urls") == []
    assert server.blob_files() == []  # deleted when the mutation committed
    assert await server.rows() == []


async def test_ranges_conditionals_and_head(server: StorageServer) -> None:
    data = bytes(range(200))
    storage_id = (await upload(await server.upload_url(), data, "image/png")).json()["storageId"]
    async with server.admin() as admin:
        meta = await admin.query("files:get_metadata", {"storage_id": storage_id})
    async with server.client() as client:
        url = await client.query("files:get_url", {"storage_id": storage_id})
    etag = f'"{meta["sha256"]}"'
    async with httpx.AsyncClient() as http:

        async def get(**headers: str) -> httpx.Response:
            return await http.get(url, headers=headers)

        part = await get(Range="bytes=10-19")
        assert (part.status_code, part.content) == (206, data[10:20])
        assert part.headers["content-range"] == "bytes 10-19/200"
        assert part.headers["content-length"] == "10"
        tail = await get(Range="bytes=-5")
        assert (tail.status_code, tail.content) == (206, data[-5:])
        assert tail.headers["content-range"] == "bytes 195-199/200"
        rest = await get(Range="bytes=150-")
        assert (rest.status_code, rest.content) == (206, data[150:])
        clipped = await get(Range="bytes=190-999")
        assert (clipped.status_code, clipped.content) == (206, data[190:])
        beyond = await get(Range="bytes=200-")
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == "bytes */200"
        several = await get(Range="bytes=0-1,5-6")  # multi-range: the whole file, documented
        assert (several.status_code, several.content) == (200, data)
        assert (await get(Range="lines=1-2")).status_code == 200
        cached = await get(**{"If-None-Match": etag})
        assert (cached.status_code, cached.content) == (304, b"")
        assert cached.headers["etag"] == etag
        assert (await get(**{"If-None-Match": '"other"'})).status_code == 200
        stale = await get(Range="bytes=0-0", **{"If-Range": '"other"'})
        assert (stale.status_code, stale.content) == (200, data)
        fresh = await get(Range="bytes=0-0", **{"If-Range": etag})
        assert (fresh.status_code, fresh.content) == (206, data[:1])
        head = await http.head(url)
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == "200"
        assert head.headers["accept-ranges"] == "bytes"
    empty_id = (await upload(await server.upload_url(), b"", None)).json()["storageId"]
    async with server.client() as client, httpx.AsyncClient() as http:
        empty_url = await client.query("files:get_url", {"storage_id": empty_id})
        empty = await http.get(empty_url)
        assert (empty.status_code, empty.content, empty.headers["content-length"]) == (
            200,
            b"",
            "0",
        )
        assert (await http.get(empty_url, headers={"Range": "bytes=0-"})).status_code == 416


@pytest.mark.parametrize(
    ("content_type", "served_type", "disposition"),
    [
        ("text/html", "text/html", "attachment"),
        ("image/svg+xml", "image/svg+xml", "attachment"),
        ("application/javascript", "application/javascript", "attachment"),
        ("text/xml; charset=utf-8", "text/xml; charset=utf-8", "attachment"),
        (None, "application/octet-stream", "attachment"),
        ("application/x-unknown", "application/x-unknown", "attachment"),
        ("image/jpeg", "image/jpeg", "inline"),
        ("text/plain; charset=utf-8", "text/plain; charset=utf-8", "inline"),
        ("video/mp4", "video/mp4", "inline"),
    ],
)
async def test_disposition_protects_the_origin(
    server: StorageServer, content_type: str | None, served_type: str, disposition: str
) -> None:
    response = await upload(await server.upload_url(), b"<script>alert(1)</script>", content_type)
    storage_id = response.json()["storageId"]
    async with server.client() as client:
        url = await client.query("files:get_url", {"storage_id": storage_id})
    async with httpx.AsyncClient() as http:
        served = await http.get(url)
    assert served.headers["content-type"] == served_type
    assert served.headers["content-disposition"].startswith(f"{disposition}; filename=")
    assert served.headers["x-content-type-options"] == "nosniff"


async def test_signed_filenames_and_tampered_urls(server: StorageServer) -> None:
    response = await upload(await server.upload_url(), b"hello", "text/plain")
    storage_id = response.json()["storageId"]
    async with server.client() as ada:
        file_id = await ada.mutation(
            "files:save_file",
            {"storage_id": storage_id, "name": "résumé 2024.txt", "type": "text/plain", "size": 5},
        )
        url = (await ada.query("files:get_file_with_url", {"id": file_id}))["url"]
        plain_url = await ada.query("files:get_url", {"storage_id": storage_id})
    async with httpx.AsyncClient() as http:
        served = await http.get(url)
        assert served.headers["content-disposition"] == (
            "inline; filename=\"r_sum_ 2024.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.txt"
        )
        query = parse_qs(urlsplit(url).query)
        assert query["filename"] == ["résumé 2024.txt"]
        for bad in (
            url.replace("filename=r", "filename=x"),
            url.replace(f"exp={query['exp'][0]}", f"exp={int(query['exp'][0]) + 1000}"),
            re.sub(r"sig=[^&]+", "sig=" + "A" * 32, url),
            re.sub(r"&sig=[^&]+", "", url),
            plain_url.replace(
                storage_id, storage_id[:-1] + ("a" if storage_id[-1] != "a" else "b")
            ),
        ):
            refused = await http.get(bad)
            assert refused.status_code == 403, bad
            assert refused.json()["code"] == "InvalidSignature"


async def test_urls_are_stable_within_a_window_and_expire(server: StorageServer) -> None:
    response = await upload(await server.upload_url(), b"x" * 10, "text/plain")
    storage_id = response.json()["storageId"]
    async with server.client() as client, httpx.AsyncClient() as http:
        first = await client.query("files:get_url", {"storage_id": storage_id})
        server.clock.advance(60_000)
        assert await client.query("files:get_url", {"storage_id": storage_id}) == first
        server.clock.advance(3 * 3_600_000)
        expired = await http.get(first)
        assert (expired.status_code, expired.json()["code"]) == (403, "UrlExpired")
        second = await client.query("files:get_url", {"storage_id": storage_id})
        assert second != first
        assert (await http.get(second)).content == b"x" * 10


async def test_upload_tokens_missing_tampered_expired(server: StorageServer) -> None:
    url = await server.upload_url()
    base, token = url.split("?token=")
    upload_id, expires, signature = token.split(".")
    other_id = upload_id[:-1] + ("y" if upload_id.endswith("x") else "x")  # really different
    cases = {
        base: (401, "MissingUploadToken"),
        f"{base}?token={upload_id}.{int(expires) + 3_600_000}.{signature}": (
            403,
            "InvalidUploadToken",
        ),
        f"{base}?token={upload_id}.{expires}.{signature[::-1]}": (403, "InvalidUploadToken"),
        f"{base}?token={other_id}.{expires}.{signature}": (403, "InvalidUploadToken"),
        f"{base}?token=garbage": (403, "InvalidUploadToken"),
    }
    for bad, (status, code) in cases.items():
        response = await upload(bad, b"data")
        assert (response.status_code, response.json()["code"]) == (status, code), bad
    server.clock.advance(3_600_000 + 1)
    expired = await upload(url, b"data")
    assert (expired.status_code, expired.json()["code"]) == (401, "UploadUrlExpired")
    assert server.blob_files() == [] and await server.rows() == []
    short = await server.upload_url(expires_s=60)
    server.clock.advance(61_000)
    assert (await upload(short, b"data")).status_code == 401


async def test_an_upload_url_works_once(server: StorageServer) -> None:
    url = await server.upload_url()
    first = await upload(url, b"one")
    assert first.status_code == 200
    again = await upload(url, b"two")
    assert (again.status_code, again.json()["code"]) == (410, "UploadUrlUsed")
    assert "already used" in again.json()["message"]
    assert server.blob_files() == [first.json()["storageId"]]
    assert [row["size"] for row in await server.rows()] == [3]
    assert await server.rows("_storage_uploads") == []
