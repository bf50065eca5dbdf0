"""``ctx.storage`` in the test harness, on SQLite and PostgreSQL: what each kind of function
may do, transactional upload URLs and deletes, store/get in actions, signed URLs."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mainspring import (
    ActionCtx,
    AppError,
    MutationCtx,
    NotAllowedError,
    QueryCtx,
    StorageId,
    ValidationError,
    action,
    mutation,
    query,
)
from mainspring.storage.gc import collect_garbage
from mainspring.storage.local import LocalBlobStore
from mainspring.testing import TestApp
from tests.support.storage_helpers import PresigningStore


@query
async def in_query(ctx: QueryCtx, method: str) -> Any:
    return await _call(ctx, method)


@mutation
async def in_mutation(ctx: MutationCtx, method: str) -> Any:
    return await _call(ctx, method)


async def _call(ctx: Any, method: str) -> Any:
    args: dict[str, tuple[Any, ...]] = {
        "generate_upload_url": (),
        "delete": ("0" * 28,),
        "store": (b"data",),
        "get": ("0" * 28,),
        "presign_upload": ("a.png", "image/png"),
        "confirm_upload": ("0" * 28,),
    }
    return await getattr(ctx.storage, method)(*args[method])


@mutation
async def upload_url_then(ctx: MutationCtx, fail: bool) -> str:
    url: str = await ctx.storage.generate_upload_url(max_size=10, content_types=["text/*"])
    if fail:
        raise AppError("rolled back")
    return url


@mutation
async def delete_then(ctx: MutationCtx, storage_id: StorageId, fail: bool) -> None:
    await ctx.storage.delete(storage_id)
    if fail:
        raise AppError("rolled back")


@query
async def describe(ctx: QueryCtx, storage_id: str, permanent: bool = False) -> dict[str, Any]:
    return {
        "url": await ctx.storage.get_url(storage_id, permanent=permanent),
        "metadata": await ctx.storage.get_metadata(storage_id),
    }


async def _pieces() -> AsyncIterator[bytes]:
    for piece in (b"async ", bytearray(b"iter"), memoryview(b"ator")):
        yield piece  # type: ignore[misc]


@action
async def store_kinds(ctx: ActionCtx) -> list[str]:
    return [
        await ctx.storage.store(b"bytes", content_type="text/plain"),
        await ctx.storage.store(io.BytesIO(b"x" * 600_000)),
        await ctx.storage.store(_pieces(), sha256=hashlib.sha256(b"async iterator").hexdigest()),
    ]


@action
async def read_back(ctx: ActionCtx, storage_id: StorageId) -> dict[str, Any] | None:
    stored = await ctx.storage.get(storage_id)
    if stored is None:
        return None
    chunks = [chunk async for chunk in stored]
    return {
        "data": await stored.read(),
        "chunks": len(chunks),
        "middle": b"".join([c async for c in stored.stream(2, 5)]),
        "type": stored.content_type,
        "size": stored.size,
    }


@action
async def store_with_sha(ctx: ActionCtx, data: bytes, sha256: str) -> str:
    return await ctx.storage.store(data, sha256=sha256)


@action
async def delete_now(ctx: ActionCtx, storage_id: StorageId) -> bool:
    await ctx.storage.delete(storage_id)
    return await ctx.storage.get_metadata(storage_id) is None


@action
async def action_upload_url(ctx: ActionCtx) -> str:
    return await ctx.storage.generate_upload_url(expires_s=60)


@action
async def presign(ctx: ActionCtx, size: int | None = None) -> dict[str, Any]:
    return await ctx.storage.presign_upload("clip.mp4", "video/mp4", size=size)


@action
async def confirm(ctx: ActionCtx, storage_id: StorageId) -> str:
    return await ctx.storage.confirm_upload(storage_id)


FUNCTIONS = [
    in_query,
    in_mutation,
    upload_url_then,
    delete_then,
    describe,
    store_kinds,
    read_back,
    store_with_sha,
    delete_now,
    action_upload_url,
    presign,
    confirm,
]


@pytest.fixture
async def app(database_url: str, tmp_path: Path) -> AsyncIterator[TestApp]:
    store = PresigningStore(tmp_path / "blobs", fsync=False)
    async with TestApp(FUNCTIONS, database=database_url, blob_store=store) as t:
        yield t


async def stored(app: TestApp, data: bytes, content_type: str | None = None) -> str:
    return await app.runtime.storage.store(data, content_type=content_type)


@pytest.mark.parametrize(
    ("method", "allowed"),
    [
        ("generate_upload_url", "mutations and actions"),
        ("delete", "mutations and actions"),
        ("store", "actions"),
        ("get", "actions"),
        ("presign_upload", "actions"),
        ("confirm_upload", "actions"),
    ],
)
async def test_each_method_is_refused_where_it_does_not_belong(
    app: TestApp, method: str, allowed: str
) -> None:
    with pytest.raises(NotAllowedError, match=f"ctx.storage.{method} is available in {allowed}"):
        await app.query(in_query, {"method": method})
    if allowed == "actions":
        with pytest.raises(NotAllowedError, match="not in a mutation"):
            await app.mutation(in_mutation, {"method": method})


async def test_upload_urls_from_a_mutation_exist_only_if_it_commits(app: TestApp) -> None:
    with pytest.raises(AppError):
        await app.mutation(upload_url_then, {"fail": True})
    async with app.runtime.read_snapshot() as db:
        assert await db.system.query("_storage_uploads").collect() == []
    url = await app.mutation(upload_url_then, {"fail": False})
    async with app.runtime.read_snapshot() as db:
        [pending] = await db.system.query("_storage_uploads").collect()
    assert (pending["maxSize"], pending["contentTypes"]) == (10, ["text/*"])
    assert pending["expiresAt"] == app.clock.now_ms() + 3_600_000
    assert url.endswith(f"token={pending['_id']}.{int(pending['expiresAt'])}." + url[-32:])
    from_action = await app.action(action_upload_url)
    assert "/api/storage/upload?token=" in from_action


async def test_upload_url_arguments_are_checked(app: TestApp) -> None:
    storage = app.runtime.storage
    for bad in ({"max_size": 0}, {"content_types": "image/*"}, {"content_types": ["png"]}):
        with pytest.raises(ValidationError):
            await app.runtime.call("_system/storage:create_upload", bad)
    with pytest.raises(ValidationError, match="between 1 second and 7 days"):
        await app.runtime.call("_system/storage:create_upload", {"expires_s": 0})
    assert storage.max_upload_bytes == 5 << 30  # the default deployment limit


async def test_a_delete_in_a_failed_mutation_keeps_the_file(app: TestApp) -> None:
    storage_id = await stored(app, b"keep me")
    blob = app.runtime.storage.blob_store
    with pytest.raises(AppError):
        await app.mutation(delete_then, {"storage_id": storage_id, "fail": True})
    assert await blob.stat(storage_id) is not None
    assert (await app.query(describe, {"storage_id": storage_id}))["metadata"] is not None
    await app.mutation(delete_then, {"storage_id": storage_id, "fail": False})
    assert await blob.stat(storage_id) is None  # gone by the time the mutation returned
    assert await app.query(describe, {"storage_id": storage_id}) == {"url": None, "metadata": None}
    await app.mutation(delete_then, {"storage_id": storage_id, "fail": False})  # idempotent


async def test_actions_store_and_read_every_kind_of_data(app: TestApp) -> None:
    ids = await app.action(store_kinds)
    assert len(set(ids)) == 3
    text = await app.action(read_back, {"storage_id": ids[0]})
    assert text == {
        "data": b"bytes",
        "chunks": 1,
        "middle": b"tes",
        "type": "text/plain",
        "size": 5,
    }
    big = await app.action(read_back, {"storage_id": ids[1]})
    assert (big["data"], big["type"], big["chunks"] > 1) == (b"x" * 600_000, None, True)
    assert (await app.action(read_back, {"storage_id": ids[2]}))["data"] == b"async iterator"
    meta = (await app.query(describe, {"storage_id": ids[2]}))["metadata"]
    assert meta == {
        "storageId": ids[2],
        "sha256": hashlib.sha256(b"async iterator").hexdigest(),
        "size": 14,
        "contentType": None,
    }
    assert await app.action(delete_now, {"storage_id": ids[0]}) is True
    assert await app.action(read_back, {"storage_id": ids[0]}) is None
    assert await app.runtime.storage.blob_store.stat(ids[0]) is None


async def test_store_verifies_a_given_sha256(app: TestApp) -> None:
    with pytest.raises(ValidationError, match="SHA-256"):
        await app.action(store_with_sha, {"data": b"abc", "sha256": "0" * 64})
    assert [b async for b in app.runtime.storage.blob_store.list() if not b.incomplete] == []
    good = hashlib.sha256(b"abc").hexdigest().upper()
    storage_id = await app.action(store_with_sha, {"data": b"abc", "sha256": good})
    assert (await app.action(read_back, {"storage_id": storage_id}))["data"] == b"abc"


async def test_urls_are_window_aligned_or_permanent(app: TestApp) -> None:
    storage_id = await stored(app, b"img", "image/png")
    first = (await app.query(describe, {"storage_id": storage_id}))["url"]
    expiry = int(parse_qs(urlsplit(first).query)["exp"][0])
    assert expiry % 3_600_000 == 0
    assert 3_600_000 < expiry - app.clock.now_ms() <= 7_200_000
    await app.advance_time(1_000)
    assert (await app.query(describe, {"storage_id": storage_id}))["url"] == first
    await app.advance_time(3_600_000)
    assert (await app.query(describe, {"storage_id": storage_id}))["url"] != first
    permanent = await app.query(describe, {"storage_id": storage_id, "permanent": True})
    assert "exp=" not in permanent["url"] and "sig=" in permanent["url"]
    with pytest.raises(ValidationError, match="not a storage id"):
        await app.query(describe, {"storage_id": "nonsense"})


async def test_presigned_uploads_are_confirmed_into_stored_files(app: TestApp) -> None:
    signed = await app.action(presign, {"size": 4})
    assert signed["method"] == "PUT" and signed["headers"] == {"Content-Type": "video/mp4"}
    assert signed["uploadUrl"].startswith("https://bucket.invalid/")
    assert signed["key"] == signed["storageId"]
    assert "filename=clip.mp4" in signed["publicUrl"] and "exp=" not in signed["publicUrl"]
    with pytest.raises(Exception, match="not uploaded"):
        await app.action(confirm, {"storage_id": signed["storageId"]})

    async def body() -> AsyncIterator[bytes]:
        yield b"clip"

    await app.runtime.storage.blob_store.put(signed["key"], body())  # the client's PUT
    assert await app.action(confirm, {"storage_id": signed["storageId"]}) == signed["storageId"]
    assert await app.action(confirm, {"storage_id": signed["storageId"]}) == signed["storageId"]
    meta = (await app.query(describe, {"storage_id": signed["storageId"]}))["metadata"]
    assert meta["size"] == 4 and meta["contentType"] == "video/mp4"
    assert meta["sha256"] == hashlib.sha256(b"clip").hexdigest()
    async with app.runtime.read_snapshot() as db:
        assert await db.system.query("_storage_uploads").collect() == []
    wrong_size = await app.action(presign, {"size": 10})
    await app.runtime.storage.blob_store.put(wrong_size["key"], body())
    with pytest.raises(ValidationError, match="not 10"):
        await app.action(confirm, {"storage_id": wrong_size["storageId"]})
    assert await app.runtime.storage.blob_store.stat(wrong_size["key"]) is None


async def test_presigning_needs_an_s3_store(tmp_path: Path) -> None:
    async with TestApp(FUNCTIONS, blob_store=LocalBlobStore(tmp_path / "b")) as local:
        with pytest.raises(NotAllowedError, match="need an S3-compatible blob store"):
            await local.action(presign)
        async with local.runtime.read_snapshot() as db:
            assert await db.system.query("_storage_uploads").collect() == []


async def test_expired_pending_uploads_are_pruned_after_a_grace_day(app: TestApp) -> None:
    await app.action(action_upload_url)  # expires in a minute
    await app.mutation(upload_url_then, {"fail": False})  # expires in an hour
    assert await app.runtime.call("_system/storage:prune_uploads", {}) == 0
    await app.advance_time(86_400_000 + 60_001)
    assert await app.runtime.call("_system/storage:prune_uploads", {}) == 1
    async with app.runtime.read_snapshot() as db:
        [left] = await db.system.query("_storage_uploads").collect()
    assert left["maxSize"] == 10


async def test_storage_writes_its_rows_without_the_function_registry(
    app: TestApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only what the CLI and the system cron call by path is registered.
    assert sorted(
        d.path for d in app.runtime.registry if d.path and d.path.startswith("_system/storage:")
    ) == [
        "_system/storage:create_upload",
        "_system/storage:delete",
        "_system/storage:file_url",
        "_system/storage:list_files",
        "_system/storage:prune_uploads",
    ]
    registry, looked_up = app.runtime.registry, []
    resolve, lookup = registry.resolve, registry.lookup

    def counting_resolve(target: Any) -> Any:
        definition = resolve(target)
        looked_up.append(definition.label)
        return definition

    def counting_lookup(path: str, *, allow_internal: bool) -> Any:
        definition = lookup(path, allow_internal=allow_internal)
        looked_up.append(definition.label)
        return definition

    monkeypatch.setattr(registry, "resolve", counting_resolve)
    monkeypatch.setattr(registry, "lookup", counting_lookup)
    ids = await app.action(store_kinds)
    url = await app.action(action_upload_url)
    token = parse_qs(urlsplit(url).query)["token"][0]

    async def body() -> AsyncIterator[bytes]:
        yield b"clip"

    ids.append(await app.runtime.storage.uploads.accept(token, body()))
    assert await app.action(delete_now, {"storage_id": ids[0]}) is True
    signed = await app.action(presign, {"size": 4})
    await app.runtime.storage.blob_store.put(signed["key"], body())
    await app.action(confirm, {"storage_id": signed["storageId"]})
    await app.mutation(delete_then, {"storage_id": ids[1], "fail": False})
    report = await collect_garbage(app.runtime, grace_ms=0, delete=True)
    assert report.deleted == 3  # nothing references the files left (ids 2 and 3, the clip)
    assert looked_up and all(label.startswith("app:") for label in looked_up), looked_up
