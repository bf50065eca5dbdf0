"""The blob store contract (``mainspring/storage/base.py``) on every backend.

One suite, parametrized over local disk (a temp dir) and the S3 store against two real servers
on loopback (``tests/support/s3_servers.py``): moto, and s3rver, which verifies SigV4
signatures. Then the S3-only parts: presigned URLs (signatures and expiry checked by s3rver),
configuration, errors.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from mainspring.errors import ConfigurationError, NotAllowedError, ValidationError
from mainspring.storage.base import CHUNK, BlobNotFound, BlobStore, BlobStoreError, ListedBlob
from mainspring.storage.local import LocalBlobStore
from mainspring.storage.s3 import MAX_PRESIGN_EXPIRY_S, S3BlobStore

if TYPE_CHECKING:
    from tests.support.s3_servers import (
        S3Server,  # imported by pytest as a plugin (below), so it is rewritten
    )

pytest_plugins = ["tests.support.s3_servers"]

MiB = 1024 * 1024
PART = 5 * MiB  # the S3 stores under test use S3's smallest part size as threshold and part size


@dataclass
class Backend:
    name: str
    store: BlobStore
    server: S3Server | None = None
    bucket: str = ""
    root: Path | None = None

    @property
    def sees_uploads(self) -> bool:
        """Whether unfinished uploads can be listed and aborted (not on s3rver)."""
        return self.server is None or self.server.lists_uploads

    def open_uploads(self) -> list[Any]:
        """What the backend still holds of unfinished uploads, looked at directly."""
        if self.root is not None:
            return sorted((self.root / ".incoming").iterdir())
        assert self.server is not None
        page = self.server.client().list_multipart_uploads(Bucket=self.bucket)
        return list(page.get("Uploads", []))


@pytest.fixture(params=["local", "moto", "s3rver"])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, s3_server_factory: Any
) -> AsyncIterator[Backend]:
    if request.param == "local":
        backend = Backend("local", LocalBlobStore(tmp_path / "blobs"), root=tmp_path / "blobs")
    else:
        server: S3Server = s3_server_factory(request.param)
        bucket = server.new_bucket()
        store = server.store(bucket, multipart_threshold=PART, part_size=PART)
        backend = Backend(request.param, store, server, bucket)
    await backend.store.open()
    try:
        yield backend
    finally:
        await backend.store.close()


@pytest.fixture(params=["moto", "s3rver"])
def server(request: pytest.FixtureRequest, s3_server_factory: Any) -> S3Server:
    result: S3Server = s3_server_factory(request.param)
    return result


@pytest.fixture
async def s3rver_store(s3rver_server: S3Server) -> AsyncIterator[S3BlobStore]:
    store = s3rver_server.store(s3rver_server.new_bucket())
    await store.open()
    yield store
    await store.close()


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def blocks(total: int, seed: int = 7, size: int = 64 * 1024) -> Iterator[bytes]:
    """``total`` pseudo-random bytes in blocks, made on the fly (never all in memory)."""
    rng = random.Random(seed)
    for offset in range(0, total, size):
        yield rng.randbytes(min(size, total - offset))


async def stream(total: int, *, fail: bool = False) -> AsyncIterator[bytes]:
    for block in blocks(total):
        yield block
    if fail:
        raise RuntimeError("the client went away")


def sha256_of(total: int) -> str:
    digest = hashlib.sha256()
    for block in blocks(total):
        digest.update(block)
    return digest.hexdigest()


async def read(store: BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.get(key, start, end)])


async def listed(store: BlobStore, prefix: str = "") -> list[ListedBlob]:
    return [blob async for blob in store.list(prefix)]


# ---------------------------------------------------------------- the contract, on every backend


async def test_put_get_round_trip(backend: Backend) -> None:
    store = backend.store
    data = b"hello, " * 1000 + b"world"
    info = await store.put("files/greeting.txt", chunks(data[:10], b"", data[10:]))
    assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert await read(store, "files/greeting.txt") == data
    stat = await store.stat("files/greeting.txt")
    assert stat is not None and stat[0] == len(data)
    assert abs(stat[1] / 1000 - time.time()) < 120

    empty = await store.put("files/empty", chunks())
    assert (empty.size, empty.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert await read(store, "files/empty") == b""
    if backend.name != "s3rver":  # s3rver answers a range of an empty object with a 1-byte
        assert await read(store, "files/empty", 0, 10) == b""  # length and no byte (its bug)
    assert await store.stat("files/empty") == (0, pytest.approx(time.time() * 1000, abs=120_000))


async def test_large_object_streams_through_in_parts(backend: Backend) -> None:
    store, total = backend.store, 20 * MiB + 12345
    calls: list[str] = []
    if isinstance(store, S3BlobStore):
        store.client.meta.events.register(
            "before-call.s3", lambda model, **_: calls.append(model.name)
        )
    tracemalloc.start()
    try:
        info = await store.put("big/blob.bin", stream(total), content_type="video/mp4")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (info.size, info.sha256) == (total, sha256_of(total))
    # Never the whole object in memory: a part being filled plus one being sent (~11 MiB here,
    # up to ~13 MiB on a loaded machine), well under the object's 20 MiB.
    assert peak < 3 * PART, f"put held {peak / MiB:.1f} MiB"
    if backend.server is not None:
        assert calls.count("UploadPart") == 5 and calls.count("PutObject") == 0
        assert calls[-1] == "CompleteMultipartUpload"
    digest, sizes = hashlib.sha256(), []
    async for chunk in store.get("big/blob.bin"):
        digest.update(chunk)
        sizes.append(len(chunk))
    assert digest.hexdigest() == info.sha256 and sum(sizes) == total
    assert max(sizes) <= CHUNK and len(sizes) > 1  # streamed, not read whole
    assert await store.stat("big/blob.bin") == (total, pytest.approx(time.time() * 1000, abs=1e5))


async def test_ranges(backend: Backend) -> None:
    store = backend.store
    data = bytes(range(256)) * 1200  # over one CHUNK, so ranges cross chunk boundaries
    size = len(data)
    await store.put("r", chunks(data))
    cases = [
        (0, None),
        (10, None),
        (10, 20),
        (0, 1),
        (CHUNK - 3, CHUNK + 3),
        (size - 5, size + 100),  # end past the end: up to the end
        (size - 1, None),
        (size, None),  # starts at the end: nothing
        (size + 10, size + 20),  # starts past the end: nothing
        (5, 5),  # empty
        (7, 3),  # end before start: nothing
    ]
    for start, end in cases:
        assert await read(store, "r", start, end) == data[start:end], (start, end)


async def test_missing_objects(backend: Backend) -> None:
    store = backend.store
    for start, end in [(0, None), (3, 10), (4, 4)]:
        with pytest.raises(BlobNotFound):
            await read(store, "no/such/blob", start, end)
    assert await store.stat("no/such/blob") is None


async def test_delete_is_idempotent(backend: Backend) -> None:
    store = backend.store
    await store.put("d/x", chunks(b"bye"))
    await store.put("d/y", chunks(b"stay"))
    await store.delete("d/x")
    assert await store.stat("d/x") is None
    with pytest.raises(BlobNotFound):
        await read(store, "d/x")
    await store.delete("d/x")
    await store.delete("never/existed")
    assert [blob.key for blob in await listed(store, "d/")] == ["d/y"]


async def test_put_replaces_atomically(backend: Backend) -> None:
    store = backend.store
    await store.put("k", chunks(b"first"))
    info = await store.put("k", stream(PART + 100))  # a multipart upload on S3
    assert info.sha256 == sha256_of(PART + 100)
    assert hashlib.sha256(await read(store, "k")).hexdigest() == info.sha256
    await store.put("k", chunks(b"third"))
    assert await read(store, "k") == b"third"
    assert [(blob.key, blob.size) for blob in await listed(store)] == [("k", 5)]


@pytest.mark.parametrize("fail_after", [1000, 2 * PART + 1000], ids=["small", "multipart"])
async def test_failed_put_leaves_nothing(
    backend: Backend, fail_after: int, caplog: pytest.LogCaptureFixture
) -> None:
    store = backend.store
    await store.put("kept", chunks(b"old bytes"))
    for key in ["kept", "fresh"]:
        with pytest.raises(RuntimeError, match="the client went away"):
            await store.put(key, stream(fail_after, fail=True))
    assert await read(store, "kept") == b"old bytes"  # the failed replacement changed nothing
    assert await store.stat("fresh") is None
    with pytest.raises(BlobNotFound):
        await read(store, "fresh")
    assert [(blob.key, blob.incomplete) for blob in await listed(store)] == [("kept", False)]
    if backend.sees_uploads:
        assert backend.open_uploads() == []  # no temp file, no multipart upload left open
    elif fail_after > PART:  # s3rver cannot abort: said so, and the original error still won
        assert "could not abort the multipart upload of 'fresh'" in caplog.text


async def test_list_with_prefix(backend: Backend) -> None:
    store = backend.store
    for key, data in [("a/1", b"1"), ("a/2", b"22"), ("ab", b"333"), ("b/1", b"4444")]:
        await store.put(key, chunks(data))
    assert [blob.key for blob in await listed(store, "a/")] == ["a/1", "a/2"]
    assert [blob.key for blob in await listed(store, "a")] == ["a/1", "a/2", "ab"]
    everything = await listed(store)
    assert [(blob.key, blob.size, blob.incomplete) for blob in everything] == [
        ("a/1", 1, False),
        ("a/2", 2, False),
        ("ab", 3, False),
        ("b/1", 4, False),
    ]
    assert all(abs(blob.modified_ms / 1000 - time.time()) < 120 for blob in everything)
    assert await listed(store, "zzz") == []


async def test_upload_in_progress_is_listed_as_incomplete(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    store, gate, started = backend.store, asyncio.Event(), threading.Event()
    if isinstance(store, S3BlobStore):
        store.client.meta.events.register("after-call.s3.UploadPart", lambda **_: started.set())

    async def stalled() -> AsyncIterator[bytes]:
        yield b"x" * (PART + 1)  # past the threshold: on S3 a multipart upload is open
        await gate.wait()
        yield b"never"

    task = asyncio.create_task(store.put("stuck/upload", stalled()))
    for _ in range(800):  # up to 20 s on a loaded machine; usually a few ms
        if started.is_set() or (backend.root and any((backend.root / ".incoming").iterdir())):
            break
        await asyncio.sleep(0.025)
    leftovers = await listed(store)
    assert await store.stat("stuck/upload") is None  # nothing visible before the end
    if backend.sees_uploads:
        assert [blob.incomplete for blob in leftovers] == [True]
        if backend.server is not None:
            assert leftovers[0].key == "stuck/upload" and leftovers[0].upload_id
    else:
        assert leftovers == [] and "cannot list multipart uploads" in caplog.text
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await listed(store) == [] and await store.stat("stuck/upload") is None
    if backend.sees_uploads:
        assert backend.open_uploads() == []


async def test_leftover_of_a_dead_upload_is_listed_and_discarded(backend: Backend) -> None:
    store = backend.store
    await store.put("live", chunks(b"data"))
    if backend.root is not None:  # a process killed mid-put leaves its temp file
        (backend.root / ".incoming" / "dead.part").write_bytes(b"partial")
    else:
        assert backend.server is not None
        client = backend.server.client()
        upload = client.create_multipart_upload(Bucket=backend.bucket, Key="dead/upload")
        client.upload_part(
            Bucket=backend.bucket,
            Key="dead/upload",
            UploadId=upload["UploadId"],
            PartNumber=1,
            Body=b"partial",
        )
    leftovers = [blob for blob in await listed(store) if blob.incomplete]
    if not backend.sees_uploads:
        assert leftovers == []  # s3rver: invisible (logged), and list still works
        return
    assert len(leftovers) == 1
    assert leftovers[0].key == (".incoming/dead.part" if backend.root else "dead/upload")
    assert 0 < leftovers[0].modified_ms <= time.time() * 1000  # moto: always 2010-11-10
    await store.discard(leftovers[0])
    await store.discard(leftovers[0])  # already gone: fine
    assert [(blob.key, blob.incomplete) for blob in await listed(store)] == [("live", False)]
    assert backend.open_uploads() == []


BAD_KEYS = ["../x", "a/../b", "/abs", "a//b", "", "a\x00b", ".", "..", "a/./b", "dir/", "a b"]


async def test_invalid_keys_are_rejected(backend: Backend) -> None:
    store = backend.store
    for key in BAD_KEYS:
        with pytest.raises(ValidationError, match="invalid blob key"):
            await store.put(key, chunks(b"x"))
        with pytest.raises(ValidationError):
            await read(store, key)
        with pytest.raises(ValidationError):
            await store.stat(key)
        with pytest.raises(ValidationError):
            await store.delete(key)
        if isinstance(store, S3BlobStore):
            with pytest.raises(ValidationError):
                await store.presign_get(key)
    assert await listed(store) == []
    if backend.root is not None:
        assert sorted(p.name for p in backend.root.parent.iterdir()) == ["blobs"]


async def test_presigning_is_s3_only(backend: Backend) -> None:
    if backend.server is None:
        with pytest.raises(NotAllowedError):
            await backend.store.presign_put("k", content_type="a/b", content_length=1, expires_s=60)
        with pytest.raises(NotAllowedError):
            await backend.store.presign_get("k", expires_s=60)
    else:
        url = await backend.store.presign_get("k", expires_s=60)
        assert url.method == "GET" and url.url.startswith(backend.server.endpoint_url)


# ---------------------------------------------------------------- S3 only: presigned URLs


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


async def test_presigned_put_and_get(server: S3Server) -> None:
    store = server.store(server.new_bucket())
    data = b"\x89PNG fake image" * 100
    signed = await store.presign_put(
        "media/photo.png", content_type="image/png", content_length=len(data), expires_s=60
    )
    assert signed.method == "PUT"
    assert signed.headers == {"Content-Type": "image/png", "Content-Length": str(len(data))}
    assert signed.expires_ms == pytest.approx((time.time() + 60) * 1000, abs=5000)
    signed_headers = query(signed.url)["X-Amz-SignedHeaders"].split(";")
    assert {"content-type", "content-length", "host"} <= set(signed_headers)
    async with httpx.AsyncClient() as http:
        response = await http.put(signed.url, content=data, headers=signed.headers)
        assert response.status_code == 200, response.text
        assert await read(store, "media/photo.png") == data
        head = server.client().head_object(Bucket=store.bucket, Key="media/photo.png")
        assert head["ContentType"] == "image/png"

        download = await store.presign_get("media/photo.png")
        assert query(download.url)["X-Amz-Expires"] == "900"  # default: 15 minutes
        assert download.expires_ms == pytest.approx((time.time() + 900) * 1000, abs=5000)
        response = await http.get(download.url)
        assert response.status_code == 200 and response.content == data
    await store.close()


async def test_presigned_put_refuses_other_headers(s3rver_store: S3BlobStore) -> None:
    store = s3rver_store
    signed = await store.presign_put("up/a.png", content_type="image/png", content_length=5)
    async with httpx.AsyncClient() as http:
        for headers, body in [
            ({"Content-Type": "text/html"}, b"<svg>"),  # another type: refused
            ({"Content-Type": "image/png"}, b"longer body"),  # another length: refused
        ]:
            response = await http.put(signed.url, content=body, headers=headers)
            assert response.status_code == 403, response.text
            assert "SignatureDoesNotMatch" in response.text
        assert await store.stat("up/a.png") is None
        tampered = signed.url.replace("/up/a.png?", "/up/b.png?")
        response = await http.put(tampered, content=b"12345", headers=signed.headers)
        assert response.status_code == 403 and await store.stat("up/b.png") is None
        response = await http.put(signed.url, content=b"12345", headers=signed.headers)
        assert response.status_code == 200
        # A PUT URL is no GET URL, and a forged signature is refused.
        assert (await http.get(signed.url)).status_code == 403
        good = (await store.presign_get("up/a.png", expires_s=60)).url
        forged = good[:-4] + ("0000" if not good.endswith("0000") else "1111")
        assert (await http.get(forged)).status_code == 403
        assert (await http.get(good)).content == b"12345"


async def test_presigned_urls_expire(s3rver_store: S3BlobStore) -> None:
    store = s3rver_store
    await store.put("e/x", chunks(b"secret"))
    put = await store.presign_put("e/y", content_type="text/plain", expires_s=1)
    get = await store.presign_get("e/x", expires_s=1)
    # X-Amz-Date has whole seconds: 1.1 s after the stated expiry the URL is surely dead.
    await asyncio.sleep(max(0.0, put.expires_ms / 1000 + 1.1 - time.time()))
    async with httpx.AsyncClient() as http:
        response = await http.put(put.url, content=b"late", headers=put.headers)
        assert response.status_code == 403 and "Request has expired" in response.text
        response = await http.get(get.url)
        assert response.status_code == 403 and "Request has expired" in response.text
    assert await store.stat("e/y") is None


async def test_presign_expiry_is_bounded(server: S3Server) -> None:
    store = server.store("any-bucket")
    for expires_s in [MAX_PRESIGN_EXPIRY_S + 1, 30 * 24 * 3600, 0, -5]:
        with pytest.raises(ValidationError, match="7 days"):
            await store.presign_put("k", content_type="text/plain", expires_s=expires_s)
        with pytest.raises(ValidationError, match="7 days"):
            await store.presign_get("k", expires_s=expires_s)
    longest = await store.presign_get("k", expires_s=MAX_PRESIGN_EXPIRY_S)
    assert query(longest.url)["X-Amz-Expires"] == "604800"


# ---------------------------------------------------------------- S3 only: configuration, errors


async def test_prefix_keeps_keys_apart(server: S3Server) -> None:
    bucket = server.new_bucket()
    tenant, whole = server.store(bucket, prefix="/tenant-1/"), server.store(bucket)
    await tenant.put("x/y", chunks(b"mine"))
    await whole.put("x/y", chunks(b"other"))
    assert [blob.key for blob in await listed(tenant)] == ["x/y"]
    assert [blob.key for blob in await listed(whole)] == ["tenant-1/x/y", "x/y"]
    assert await read(tenant, "x/y") == b"mine" and await read(whole, "tenant-1/x/y") == b"mine"
    signed = await tenant.presign_get("x/y", expires_s=60)
    assert urlsplit(signed.url).path == f"/{bucket}/tenant-1/x/y"


async def test_configuration_from_environment(
    s3rver_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3rver_server.new_bucket()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3rver_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "S3RVER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "S3RVER")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    store = S3BlobStore(bucket)
    await store.open()
    await store.put("env", chunks(b"configured"))
    assert await read(store, "env") == b"configured"
    signed = await store.presign_get("env", expires_s=60)
    assert "/eu-west-3/s3/aws4_request" in query(signed.url)["X-Amz-Credential"]
    async with httpx.AsyncClient() as http:
        assert (await http.get(signed.url)).content == b"configured"


async def test_wrong_credentials_are_a_clear_error(s3rver_server: S3Server) -> None:
    bucket = s3rver_server.new_bucket()
    for key_id, secret in [("S3RVER", "wrong-secret"), ("NOBODY", "S3RVER")]:
        store = S3BlobStore(
            bucket,
            endpoint_url=s3rver_server.endpoint_url,
            access_key_id=key_id,
            secret_access_key=secret,
        )
        with pytest.raises(ConfigurationError) as caught:
            await store.open()
        message = str(caught.value)
        assert bucket in message and s3rver_server.endpoint_url in message and key_id in message
        with pytest.raises(ConfigurationError, match="check the credentials"):
            await store.put("k", chunks(b"x"))
        assert isinstance(caught.value.__cause__, Exception)  # raised from botocore's error


async def test_missing_bucket_is_a_clear_error(server: S3Server) -> None:
    store = server.store("no-such-bucket")
    with pytest.raises(ConfigurationError, match="bucket 'no-such-bucket' does not exist at"):
        await store.open()
    with pytest.raises(ConfigurationError, match="does not exist"):
        await store.put("k", chunks(b"x"))


async def test_missing_credentials_and_unreachable_endpoint(
    moto_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = S3BlobStore("b", endpoint_url=moto_server.endpoint_url)
    with pytest.raises(
        ConfigurationError, match=r"no S3 credentials for bucket 'b'.*AWS_ACCESS_KEY_ID"
    ):
        await store.open()
    with pytest.raises(ConfigurationError, match="no S3 credentials"):
        await store.presign_get("k", expires_s=60)

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # no retries with backoff: fail at once
    dead = S3BlobStore(
        "b", endpoint_url="http://127.0.0.1:9", access_key_id="k", secret_access_key="s"
    )
    with pytest.raises(BlobStoreError, match=r"bucket 'b' at http://127\.0\.0\.1:9"):
        await dead.open()


def test_part_size_below_the_s3_minimum_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 5 MiB"):
        S3BlobStore("b", endpoint_url="http://127.0.0.1:9", part_size=1024 * 1024)
