"""Upload refusals and races over HTTP, on SQLite and PostgreSQL: size limits, content types,
digests, a client that disconnects, concurrent uploads, CORS. Every refusal leaves no
``_storage`` row and no blob behind."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.storage_helpers import StorageServer, storage_server

DEPLOYMENT_LIMIT = 256 * 1024


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[StorageServer]:
    with storage_server(database_url, tmp_path, max_upload_bytes=DEPLOYMENT_LIMIT) as live:
        yield live


async def nothing_stored(server: StorageServer) -> None:
    assert server.blob_files() == []
    assert server.partial_files() == []
    assert await server.rows() == []


async def chunked(data: bytes, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_size_limits_per_url_and_per_deployment(server: StorageServer) -> None:
    url = await server.upload_url(max_size=1000)
    async with httpx.AsyncClient() as http:
        declared = await http.post(url, content=b"x" * 1001)  # refused on Content-Length
        assert (declared.status_code, declared.json()["code"]) == (413, "PayloadTooLarge")
        streamed = await http.post(url, content=chunked(b"x" * 5000, 100))  # no length: counted
        assert streamed.status_code == 413
        await nothing_stored(server)
        # The URL was not consumed by the refusals: a file within the limit still goes in.
        fits = await http.post(url, content=b"x" * 1000)
        assert fits.status_code == 200
        assert [row["size"] for row in await server.rows()] == [1000]
        generous = await server.upload_url(max_size=10 * DEPLOYMENT_LIMIT)
        too_big = await http.post(generous, content=os.urandom(DEPLOYMENT_LIMIT + 1))
        assert too_big.status_code == 413
        assert str(DEPLOYMENT_LIMIT) in too_big.json()["message"]
        big_stream = await http.post(generous, content=chunked(os.urandom(DEPLOYMENT_LIMIT * 2)))
        assert big_stream.status_code == 413
        assert len(await server.rows()) == 1 and server.partial_files() == []
        exact = await http.post(generous, content=os.urandom(DEPLOYMENT_LIMIT))
        assert exact.status_code == 200


async def test_content_types_allowed_per_url(server: StorageServer) -> None:
    url = await server.upload_url(content_types=["image/*", "application/pdf"])
    async with httpx.AsyncClient() as http:
        for content_type in ("text/plain", "image", "application/pdfx", None):
            headers = {} if content_type is None else {"Content-Type": content_type}
            refused = await http.post(url, content=b"data", headers=headers)
            assert (refused.status_code, refused.json()["code"]) == (415, "UnsupportedMediaType")
        await nothing_stored(server)
        ok = await http.post(url, content=b"data", headers={"Content-Type": "IMAGE/WebP"})
        assert ok.status_code == 200
        [row] = await server.rows()
        assert row["contentType"] == "IMAGE/WebP"
        anything = await server.upload_url()
        bad = await http.post(anything, content=b"x", headers={"Content-Type": "not a type"})
        assert bad.status_code == 415


async def test_digest_header_is_verified(server: StorageServer) -> None:
    data = os.urandom(50_000)
    good = base64.b64encode(hashlib.sha256(data).digest()).decode()
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    url = await server.upload_url()
    async with httpx.AsyncClient() as http:
        mismatch = await http.post(url, content=data, headers={"Digest": f"sha-256={wrong}"})
        assert (mismatch.status_code, mismatch.json()["code"]) == (400, "DigestMismatch")
        malformed = await http.post(url, content=data, headers={"Digest": "sha-256=abc"})
        assert (malformed.status_code, malformed.json()["code"]) == (400, "BadDigest")
        rfc9530 = await http.post(
            url, content=data, headers={"Content-Digest": f"sha-256=:{wrong}:"}
        )
        assert rfc9530.status_code == 400
        await nothing_stored(server)
        ok = await http.post(url, content=data, headers={"Digest": f"md5=xyz, SHA-256={good}"})
        assert ok.status_code == 200
    [row] = await server.rows()
    assert row["sha256"] == hashlib.sha256(data).hexdigest()


async def test_a_client_disconnecting_mid_upload_leaves_nothing(server: StorageServer) -> None:
    url = await server.upload_url()
    parts = urlsplit(url)
    _reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        (
            f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {DEPLOYMENT_LIMIT}\r\n\r\n"
        ).encode()
        + b"x" * (DEPLOYMENT_LIMIT // 2)
    )
    await writer.drain()
    for _ in range(200):  # the server is streaming it into a temp file
        if server.partial_files():
            break
        await asyncio.sleep(0.01)
    assert server.partial_files(), "the upload never started streaming"
    writer.close()
    await writer.wait_closed()
    for _ in range(200):
        if not server.partial_files():
            break
        await asyncio.sleep(0.01)
    await nothing_stored(server)
    async with httpx.AsyncClient() as http:  # the URL is still good for a complete upload
        assert (await http.post(url, content=b"complete")).status_code == 200


async def test_concurrent_uploads_are_all_distinct(server: StorageServer) -> None:
    urls = [await server.upload_url() for _ in range(20)]
    payloads = [os.urandom(20_000 + i) for i in range(20)]
    async with httpx.AsyncClient() as http:
        responses = await asyncio.gather(
            *(
                http.post(u, content=p, headers={"Content-Type": "application/pdf"})
                for u, p in zip(urls, payloads, strict=True)
            )
        )
    assert [r.status_code for r in responses] == [200] * 20
    ids = [r.json()["storageId"] for r in responses]
    assert len(set(ids)) == 20
    rows = {row["_id"]: row for row in await server.rows()}
    assert set(rows) == set(ids) and server.blob_files() == sorted(ids)
    for storage_id, payload in zip(ids, payloads, strict=True):
        assert rows[storage_id]["sha256"] == hashlib.sha256(payload).hexdigest()
        assert (server.blobs / storage_id).read_bytes() == payload


async def test_one_url_used_concurrently_stores_one_file(server: StorageServer) -> None:
    url = await server.upload_url()
    async with httpx.AsyncClient() as http:
        responses = await asyncio.gather(
            *(http.post(url, content=os.urandom(30_000)) for _ in range(6))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [410] * 5
    [winner] = [r.json()["storageId"] for r in responses if r.status_code == 200]
    assert server.blob_files() == [winner]
    assert [row["_id"] for row in await server.rows()] == [winner]


async def test_cors_lets_another_origin_upload_and_download(server: StorageServer) -> None:
    url = await server.upload_url()
    origin = {"Origin": "https://elsewhere.example"}
    async with httpx.AsyncClient() as http:
        preflight = await http.options(
            url,
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, digest",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "POST" in preflight.headers["access-control-allow-methods"]
        allowed = preflight.headers["access-control-allow-headers"]
        assert "content-type" in allowed and "digest" in allowed
        posted = await http.post(
            url, content=b"hi", headers={**origin, "Content-Type": "text/plain"}
        )
        assert posted.headers["access-control-allow-origin"] == "*"
        refused = await http.post(url, content=b"hi", headers=origin)
        assert refused.headers["access-control-allow-origin"] == "*"  # errors readable too
        async with server.client() as client:
            file_url = await client.query(
                "files:get_url", {"storage_id": posted.json()["storageId"]}
            )
        served = await http.get(file_url, headers=origin)
        assert served.headers["access-control-allow-origin"] == "*"
        assert "Content-Range" in served.headers["access-control-expose-headers"]
