"""``mainspring storage gc`` on SQLite and PostgreSQL, with the local store and a moto S3 store:
what counts as referenced (typed StorageId fields, nested; schema-less tables), the grace
period, deleting with a re-check, and the command itself."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from typing_extensions import TypedDict

from mainspring import MutationCtx, Schema, StorageId, Table, mutation
from mainspring.cli import cli
from mainspring.ids import new_id
from mainspring.storage.base import BlobStore
from mainspring.storage.files import STORAGE_NUMBER, blob_key
from mainspring.storage.gc import collect_garbage, delete_unreferenced, references_in
from mainspring.storage.local import _INCOMING, LocalBlobStore
from mainspring.storage.s3 import S3BlobStore
from mainspring.testing import TestApp

if TYPE_CHECKING:
    from tests.support.s3_servers import S3Server

pytest_plugins = ["tests.support.s3_servers"]

HOUR = 3_600_000.0


class Thumbs(TypedDict):
    small: StorageId
    by_size: dict[str, StorageId]
    label: str


class Docs(Table):
    title: str
    file: StorageId
    maybe: StorageId | None
    many: list[StorageId]
    meta: Thumbs
    note: str  # a storage id in a plain string field is not a reference


SCHEMA = Schema(docs=Docs, strict_tables=False)


@mutation
async def insert(ctx: MutationCtx, table: str, doc: dict[str, Any]) -> str:
    doc_id: str = await ctx.db.insert(table, doc)
    return doc_id


@mutation
async def remove(ctx: MutationCtx, doc_id: str) -> None:
    await ctx.db.delete(doc_id)


@pytest.fixture(params=["local", "moto"])
async def app(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> AsyncIterator[TestApp]:
    store: BlobStore
    if request.param == "local":
        store = LocalBlobStore(tmp_path / "blobs", fsync=False)
    else:
        server: S3Server = request.getfixturevalue("moto_server")
        store = server.store(server.new_bucket())
    async with TestApp(
        [insert, remove], schema=SCHEMA, database=database_url, blob_store=store
    ) as t:
        yield t


async def _leftover(app: TestApp) -> None:
    """An upload that never finished, the way the store would leave it."""
    store = app.runtime.storage.blob_store
    if isinstance(store, LocalBlobStore):
        (store.root / _INCOMING).mkdir(parents=True, exist_ok=True)
        (store.root / _INCOMING / "dead.part").write_bytes(b"half")
    else:
        assert isinstance(store, S3BlobStore)
        store.client.create_multipart_upload(Bucket=store.bucket, Key=store.prefix + "dead")


async def _populate(app: TestApp) -> dict[str, str]:
    storage = app.runtime.storage
    ids = {
        name: await storage.store(name.encode() * 10, content_type="text/plain")
        for name in ("file", "many1", "many2", "small", "big", "loose", "note", "lonely")
    }
    await app.mutation(
        insert,
        {
            "table": "docs",
            "doc": {
                "title": "t",
                "file": ids["file"],
                "maybe": None,
                "many": [ids["many1"], ids["many2"]],
                "meta": {"small": ids["small"], "by_size": {"big": ids["big"]}, "label": "x"},
                "note": ids["note"],
            },
        },
    )
    # A schema-less table: any string that is a storage id, however deep, counts.
    await app.mutation(insert, {"table": "loose", "doc": {"a": [{"b": ids["loose"]}]}})
    orphan = storage.new_storage_id()

    async def data() -> AsyncIterator[bytes]:
        yield b"orphan"

    await storage.blob_store.put(blob_key(orphan), data())
    ids["orphan"] = orphan
    await _leftover(app)
    return ids


def test_references_follow_nested_types() -> None:
    hint = dict[str, list[StorageId | None]]
    sid = new_id(STORAGE_NUMBER, time.time() * 1000)
    assert list(references_in({"k": [None, sid]}, hint)) == [sid]
    assert list(references_in(sid, str)) == []
    assert list(references_in({"x": {"y": sid}}, Any)) == [sid]
    assert list(references_in({"small": sid, "by_size": {}, "label": sid}, Thumbs)) == [sid]
    assert list(references_in([sid, sid], tuple[StorageId, str])) == [sid]


async def test_gc_reports_then_deletes_only_garbage(app: TestApp) -> None:
    ids = await _populate(app)
    # Everything is younger than the default grace period of a day (moto dates every open
    # multipart upload 2010, so there the leftover is already old).
    local = isinstance(app.runtime.storage.blob_store, LocalBlobStore)
    young = await collect_garbage(app.runtime)
    assert [item.kind for item in young.items] == ([] if local else ["incomplete"])

    report = await collect_garbage(app.runtime, grace_ms=0)
    found = {(item.kind, item.storage_id) for item in report.items if item.kind != "incomplete"}
    assert found == {
        ("unreferenced", ids["note"]),
        ("unreferenced", ids["lonely"]),
        ("orphan-blob", ids["orphan"]),
    }
    assert [item.kind for item in report.items].count("incomplete") == 1
    assert report.totals()["unreferenced"] == (2, 40 + 60)

    # A day later (deployment clock) the rows are old enough; blobs age on the wall clock.
    app.clock.advance(25 * HOUR)
    later = await collect_garbage(app.runtime)
    assert {i.storage_id for i in later.items if i.kind != "incomplete"} == {
        ids["note"],
        ids["lonely"],
    }

    done = await collect_garbage(app.runtime, grace_ms=0, delete=True)
    assert done.deleted == 4 and done.kept == []
    storage = app.runtime.storage
    for gone in ("note", "lonely"):
        assert await storage.metadata(ids[gone]) is None
    for kept in ("file", "many1", "many2", "small", "big", "loose"):
        assert await storage.metadata(ids[kept]) is not None
    listed = [blob async for blob in storage.blob_store.list()]
    assert sorted(blob.key for blob in listed) == sorted(
        blob_key(ids[k]) for k in ("file", "many1", "many2", "small", "big", "loose")
    )
    assert (await collect_garbage(app.runtime, grace_ms=0)).items == []


async def test_delete_rechecks_references(app: TestApp) -> None:
    ids = await _populate(app)
    report = await collect_garbage(app.runtime, grace_ms=0)
    assert ids["lonely"] in {item.storage_id for item in report.items}
    # A reference appears after the scan: the deleting mutation sees it and keeps the file.
    await app.mutation(insert, {"table": "loose", "doc": {"ref": ids["lonely"]}})
    deleted = await delete_unreferenced(app.runtime, [ids["lonely"], ids["note"]])
    assert deleted == [ids["note"]]
    assert await app.runtime.storage.metadata(ids["lonely"]) is not None


def test_gc_command(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    (app_dir / "backend").mkdir(parents=True)
    (app_dir / "backend" / "files.py").write_text(
        "from mainspring import mutation\n\n"
        "@mutation\n"
        "async def save(ctx, body: str) -> str:\n"
        "    return await ctx.db.insert('notes', {'body': body})\n"
    )
    runner = CliRunner()
    env = {"MAINSPRING_APP_DIR": str(app_dir)}
    source = tmp_path / "hello.txt"
    source.write_bytes(b"hello world")
    uploaded = runner.invoke(cli, ["storage", "upload", str(source)], env=env)
    assert uploaded.exit_code == 0, uploaded.output
    storage_id = uploaded.output.strip().splitlines()[-1]
    listed = runner.invoke(cli, ["storage", "ls"], env=env)
    assert listed.exit_code == 0 and storage_id in listed.output, listed.output

    report = runner.invoke(cli, ["storage", "gc"], env=env)
    assert report.exit_code == 0 and "Nothing to collect" in report.output, report.output
    blobs = app_dir / ".mainspring" / "storage"
    old = time.time() - 2 * 86_400
    for path in blobs.rglob("*"):
        os.utime(path, (old, old))
    report = runner.invoke(cli, ["storage", "gc", "--grace", "0"], env=env)
    assert report.exit_code == 0, report.output
    assert "unreferenced: 1" in report.output and "--delete" in report.output
    deleted = runner.invoke(cli, ["storage", "gc", "--grace", "1h", "--delete"], env=env)
    assert deleted.exit_code == 0, deleted.output
    # The row is younger than an hour: only checked on its creation time, so it stays.
    assert "Deleted 0" in deleted.output
    deleted = runner.invoke(cli, ["storage", "gc", "--grace", "0", "--delete"], env=env)
    assert "Deleted 1 of 1" in deleted.output, deleted.output
    listed = runner.invoke(cli, ["storage", "ls"], env=env)
    assert storage_id not in listed.output and "0 files" in listed.output, listed.output
