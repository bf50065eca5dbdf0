"""The upload entry point without HTTP, on SQLite and PostgreSQL: each rule refuses with its
reason, a refusal leaves no row and no blob and keeps the URL usable, and the final
transaction settles a URL used meanwhile."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mainspring import MutationCtx, ValidationError, mutation
from mainspring.storage.local import LocalBlobStore
from mainspring.storage.uploads import UploadRefused, Uploads
from mainspring.testing import TestApp


@mutation
async def upload_url(
    ctx: MutationCtx,
    max_size: int | None = None,
    content_types: list[str] | None = None,
    expires_s: float = 3600,
) -> str:
    url: str = await ctx.storage.generate_upload_url(
        max_size=max_size, content_types=content_types, expires_s=expires_s
    )
    return url


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> AsyncIterator[TestApp]:
    store = LocalBlobStore(tmp_path / "blobs", fsync=False)
    async with TestApp([upload_url], database=database_url, blob_store=store) as t:
        yield t


async def token(app: TestApp, **limits: Any) -> str:
    url = await app.mutation(upload_url, limits)
    return parse_qs(urlsplit(url).query)["token"][0]


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def stored(app: TestApp) -> tuple[list[dict[str, Any]], list[str]]:
    """The ``_storage`` rows and the complete blobs."""
    async with app.runtime.read_snapshot() as db:
        rows = await db.system.query("_storage").collect()
    blobs = [b.key async for b in app.runtime.storage.blob_store.list() if not b.incomplete]
    return rows, blobs


async def refused(
    uploads: Uploads, token: str | None, body: AsyncIterable[bytes], **kw: Any
) -> str:
    with pytest.raises(UploadRefused) as caught:
        await uploads.accept(token, body, **kw)
    return caught.value.reason


async def test_each_rule_refuses_with_its_reason_and_leaves_nothing(app: TestApp) -> None:
    uploads = app.runtime.storage.uploads
    good = await token(app, max_size=10, content_types=["image/*"])
    upload_id, expires, signature = good.split(".")
    png = {"content_type": "image/png"}
    assert await refused(uploads, None, chunks(b"x"), **png) == "missing"
    assert await refused(uploads, "", chunks(b"x"), **png) == "missing"
    tampered = f"{upload_id}.{int(expires) + 1}.{signature}"
    assert await refused(uploads, tampered, chunks(b"x"), **png) == "forged"
    assert await refused(uploads, "garbage", chunks(b"x"), **png) == "forged"
    for content_type in ("text/plain", None, "not a type"):
        reason = await refused(uploads, good, chunks(b"x"), content_type=content_type)
        assert reason == "content_type"

    async def never_read() -> AsyncIterator[bytes]:
        raise AssertionError("a declared length over the limit is refused before reading")
        yield b""  # pragma: no cover

    assert await refused(uploads, good, never_read(), declared_length=11, **png) == "too_large"
    # No declared length (or a false one): the bytes are counted as they arrive.
    streamed = chunks(b"12345", b"67890", b"!")
    assert await refused(uploads, good, streamed, declared_length=3, **png) == "too_large"
    wrong = hashlib.sha256(b"other").hexdigest()
    assert await refused(uploads, good, chunks(b"x"), expected_sha256=wrong, **png) == "digest"
    assert await stored(app) == ([], [])

    # None of those used the URL up; once it is used, it is refused as such.
    data = b"0123456789"
    digest = hashlib.sha256(data).hexdigest()
    storage_id = await uploads.accept(
        good, chunks(data[:4], data[4:]), declared_length=10, expected_sha256=digest.upper(), **png
    )
    rows, blobs = await stored(app)
    assert [(r["_id"], r["size"], r["sha256"], r["contentType"]) for r in rows] == [
        (storage_id, 10, digest, "image/png")
    ]
    assert blobs == [storage_id]
    assert await refused(uploads, good, chunks(b"x"), **png) == "used"

    short = await token(app, expires_s=60)
    await app.advance_time(60_000)
    assert await refused(uploads, short, chunks(b"x")) == "expired"


async def test_the_deployment_limit_caps_every_url(app: TestApp) -> None:
    storage = app.runtime.storage
    storage.max_upload_bytes = 8
    generous = await token(app, max_size=1000)
    assert await refused(storage.uploads, generous, chunks(b"x"), declared_length=9) == "too_large"
    assert await refused(storage.uploads, generous, chunks(b"x" * 5, b"x" * 4)) == "too_large"
    assert await stored(app) == ([], [])
    storage_id = await storage.uploads.accept(generous, chunks(b"x" * 8))
    assert (await storage.metadata(storage_id))["size"] == 8


async def test_a_url_used_meanwhile_is_refused_when_recorded(app: TestApp) -> None:
    uploads = app.runtime.storage.uploads
    shared = await token(app)
    winner: list[str] = []

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"slow"
        # Another upload through the same URL finishes while this one still streams.
        winner.append(await uploads.accept(shared, chunks(b"fast")))
        yield b" body"

    assert await refused(uploads, shared, slow_body()) == "used"
    rows, blobs = await stored(app)
    assert [row["_id"] for row in rows] == winner and blobs == winner  # the loser's blob is gone


async def test_store_refuses_bad_types_and_digests_as_validation_errors(app: TestApp) -> None:
    uploads = app.runtime.storage.uploads
    with pytest.raises(ValidationError, match="not a media type"):
        await uploads.store(b"x", content_type="nope")
    with pytest.raises(ValidationError, match="SHA-256"):
        await uploads.store(b"x", sha256="0" * 64)
    assert await stored(app) == ([], [])
    # No URL, so no size limit: the deployment's limit is for upload URLs.
    app.runtime.storage.max_upload_bytes = 1
    storage_id = await uploads.store(b"bigger than one byte", content_type=" text/plain ")
    assert (await app.runtime.storage.metadata(storage_id))["contentType"] == "text/plain"
