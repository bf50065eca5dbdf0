"""The database contract: every backend (SQLite, PostgreSQL) passes these same tests.

The first part drives the raw :class:`~mainspring.db.base.Database` interface; the rest runs
small inline apps through :class:`~mainspring.testing.TestApp`, so the document layer, the
query builder and the runtime's conflict retries are checked on each backend as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from typing import Any, Literal, NotRequired

import psycopg
import pytest

from mainspring import (
    REMOVE,
    AppError,
    DatabaseError,
    DocumentNotFoundError,
    Id,
    Schema,
    SchemaError,
    Table,
    ValidationError,
    mutation,
    query,
)
from mainspring.db import open_database
from mainspring.db.base import LAYOUT_VERSION, IndexRow, RetryableConflict, StoredDocument
from mainspring.db.postgres import PostgresDatabase, _PgTransaction
from mainspring.testing import TestApp

# -- a small app --------------------------------------------------------------------------------


class Tasks(Table, indexes={"by_status": ["status"], "by_owner_rank": ["owner", "rank"]}):
    title: str
    status: Literal["todo", "done"]
    owner: str
    rank: int
    note: NotRequired[str]
    assignee: NotRequired[Id[Users]]


class Users(Table):
    name: str


class Counters(Table, indexes={"by_name": ["name"]}):
    name: str
    value: int


SCHEMA = Schema(tasks=Tasks, users=Users, counters=Counters)


@mutation
async def insert(ctx: Any, table: str, doc: dict[str, Any]) -> str:
    return await ctx.db.insert(table, doc)


@mutation
async def patch(ctx: Any, id: str, fields: dict[str, Any], remove: list[str] | None = None) -> None:
    await ctx.db.patch(id, {**fields, **dict.fromkeys(remove or [], REMOVE)})


@mutation
async def replace(ctx: Any, id: str, doc: dict[str, Any]) -> None:
    await ctx.db.replace(id, doc)


@mutation
async def delete(ctx: Any, id: str) -> None:
    await ctx.db.delete(id)


@query
async def get(ctx: Any, id: str) -> dict[str, Any] | None:
    return await ctx.db.get(id)


@query
async def scan(
    ctx: Any,
    table: str,
    index: str = "by_creation_time",
    ops: list[list[Any]] | None = None,
    order: Literal["asc", "desc"] = "asc",
) -> list[dict[str, Any]]:
    """``ops`` like ``[["eq", "owner", "ann"], ["gte", "rank", 2]]`` build the index range."""

    def build(q: Any) -> Any:
        for op, field, value in ops or []:
            q = getattr(q, op)(field, value)
        return q

    return await ctx.db.query(table).with_index(index, build).order(order).collect()


@mutation
async def bump(ctx: Any, name: str) -> int:
    """Add one to the counter ``name``, creating it at 1 (the multi-process tests use it)."""
    _ATTEMPTS[0] += 1
    found = ctx.db.query("counters").with_index("by_name", lambda q: q.eq("name", name))
    counter = await found.unique()
    if counter is None:
        await ctx.db.insert("counters", {"name": name, "value": 1})
        return 1
    await ctx.db.patch(counter["_id"], {"value": counter["value"] + 1})
    return int(counter["value"]) + 1


_ATTEMPTS = [0]  # handler runs in this process, retries included
CRUD = [insert, patch, replace, delete, get, scan, bump]


def task(title: str, owner: str = "ann", rank: int = 0, status: str = "todo") -> dict[str, Any]:
    return {"title": title, "status": status, "owner": owner, "rank": rank}


# -- the raw backend interface ------------------------------------------------------------------


def doc(n: int, table: int = 10_000) -> StoredDocument:
    return StoredDocument(f"doc{n:05}", table, 1000.0 + n, f'{{"n":{n}}}')


async def test_raw_catalog_documents_and_meta(database_url: str) -> None:
    db = open_database(database_url)
    await db.open()
    try:
        async with db.transaction(write=True) as tx:
            await tx.create_table("things", 10_000)
            await tx.create_index(IndexRow(7, 10_000, "by_n", ("n",)))
            await tx.insert(doc(1), [(7, b"\x01")])
            await tx.set_meta("color", "blue")
        async with db.transaction(write=False) as tx:
            assert await tx.tables() == {"things": 10_000}
            assert await tx.indexes() == [IndexRow(7, 10_000, "by_n", ("n",))]
            assert await tx.get("doc00001") == doc(1)
            assert await tx.get("missing") is None
            assert await tx.get_meta("color") == "blue"
            assert await tx.get_meta("layout_version") == str(LAYOUT_VERSION)
        async with db.transaction(write=True) as tx:
            await tx.update("doc00001", '{"n":2}', [(7, b"\x01")], [(7, b"\x02")])
            await tx.set_meta("color", "green")
        async with db.transaction(write=False) as tx:
            stored = await tx.get("doc00001")
            assert stored is not None and stored.value == '{"n":2}'
            assert stored.creation_time == 1001.0 and stored.table_number == 10_000
            assert [k for k, _ in await tx.scan(7, b"", None, False, 10)] == [b"\x02"]
            assert await tx.get_meta("color") == "green"
        async with db.transaction(write=True) as tx:
            await tx.delete("doc00001", [(7, b"\x02")])
            await tx.set_meta("color", None)
            await tx.drop_index(7)
        async with db.transaction(write=False) as tx:
            assert await tx.get("doc00001") is None
            assert await tx.scan(7, b"", None, False, 10) == []
            assert await tx.get_meta("color") is None
            assert await tx.indexes() == []
    finally:
        await db.close()


async def test_raw_scan_ranges_order_and_limit(database_url: str) -> None:
    db = open_database(database_url)
    await db.open()
    try:
        async with db.transaction(write=True) as tx:
            for n in range(10):
                # index 1 holds keys 00..09; index 2 interleaves the same keys for other docs
                await tx.insert(doc(n), [(1, bytes([0, n]))])
                await tx.insert(doc(100 + n), [(2, bytes([0, n]))])
        async with db.transaction(write=False) as tx:

            async def keys(lo: bytes, hi: bytes | None, desc: bool = False, limit: int = 100):
                return [stored.id for _, stored in await tx.scan(1, lo, hi, desc, limit)]

            every = [f"doc{n:05}" for n in range(10)]
            assert await keys(b"", None) == every
            assert await keys(b"\x00\x03", b"\x00\x06") == every[3:6]  # lo <= key < hi
            assert await keys(b"\x00\x03", None) == every[3:]
            assert await keys(b"\x00\x03", b"\x00\x06", desc=True) == every[5:2:-1]
            assert await keys(b"", None, desc=True, limit=2) == every[:-3:-1]
            assert await keys(b"", None, limit=4) == every[:4]
            assert await keys(b"\x00\x05", b"\x00\x05") == []
            assert await keys(b"\x01", None) == []
            rows = await tx.scan(2, b"\x00\x08", None, False, 10)
            assert [(k, d.id) for k, d in rows] == [
                (b"\x00\x08", "doc00108"),
                (b"\x00\x09", "doc00109"),
            ]
        async with db.transaction(write=True) as tx:  # bytes compare unsigned, like memcmp
            for n, key in enumerate([b"\x80", b"\x00\xff", b"\xff\x00", b"\x7f", b"\xff"]):
                await tx.insert(doc(200 + n), [(3, key)])
        async with db.transaction(write=False) as tx:
            rows = await tx.scan(3, b"\x01", None, False, 10)
            assert [k for k, _ in rows] == [b"\x7f", b"\x80", b"\xff", b"\xff\x00"]
    finally:
        await db.close()


async def test_raw_rollback_on_error_and_read_only(database_url: str) -> None:
    db = open_database(database_url)
    await db.open()
    try:
        with pytest.raises(RuntimeError, match="boom"):
            async with db.transaction(write=True) as tx:
                await tx.create_table("gone", 10_001)
                await tx.insert(doc(1), [(1, b"k")])
                raise RuntimeError("boom")
        async with db.transaction(write=False) as tx:
            assert await tx.tables() == {}
            assert await tx.get("doc00001") is None
            assert await tx.scan(1, b"", None, False, 10) == []
        with pytest.raises(DatabaseError):
            async with db.transaction(write=False) as tx:
                await tx.set_meta("sneaky", "write")
        async with db.transaction(write=False) as tx:
            assert await tx.get_meta("sneaky") is None
        with pytest.raises(DatabaseError) as info:  # a driver error (duplicate key) is translated
            async with db.transaction(write=True) as tx:
                await tx.insert(doc(2), [])
                await tx.insert(doc(2), [])
                await tx.get("doc00002")
        assert not isinstance(info.value, RetryableConflict)  # retrying would not help
    finally:
        await db.close()


async def test_raw_writes_before_any_read_commit_whole_or_not_at_all(database_url: str) -> None:
    """PostgreSQL holds writes until the first read or the commit (and sends a lone write as
    one statement): what a transaction wrote is still all, or nothing, and read back inside."""
    db = open_database(database_url)
    await db.open()
    try:
        async with db.transaction(write=True) as tx:
            await tx.insert(doc(1), [(1, b"one")])  # alone: one statement
        with pytest.raises(DatabaseError, match=r"duplicate key|UNIQUE") as info:
            async with db.transaction(write=True) as tx:
                await tx.insert(doc(1), [])  # fails at the commit, when it is sent
        assert not isinstance(info.value, RetryableConflict)
        with pytest.raises(RuntimeError, match="boom"):
            async with db.transaction(write=True) as tx:
                for n in range(10, 50):  # more than are held: some were sent
                    await tx.insert(doc(n), [(1, f"k{n}".encode())])
                raise RuntimeError("boom")
        async with db.transaction(write=True) as tx:
            for n in range(100, 140):
                await tx.insert(doc(n), [(1, f"k{n}".encode())])
            await tx.update("doc00001", '{"n":-1}', [(1, b"one")], [(1, b"uno")])
            assert (await tx.get("doc00001")) == StoredDocument(
                "doc00001", 10_000, 1001.0, '{"n":-1}'
            )
        async with db.transaction(write=False) as tx:
            keys = [key for key, _ in await tx.scan(1, b"", None, False, 100)]
            assert keys == sorted([b"uno", *(f"k{n}".encode() for n in range(100, 140))])
            assert await tx.get("doc00010") is None
    finally:
        await db.close()


async def test_raw_concurrent_read_modify_write_is_serializable(database_url: str) -> None:
    """Two transactions that read, wait for each other, then write: no update may be lost."""
    db = open_database(database_url)
    await db.open()
    async with db.transaction(write=True) as tx:
        await tx.insert(StoredDocument("c", 10_000, 1.0, "0"), [])
    both_read = asyncio.Barrier(2)

    async def increment() -> bool:
        try:
            async with db.transaction(write=True) as tx:
                current = await tx.get("c")
                assert current is not None
                # SQLite serializes writers (the second waits for the lock), PostgreSQL lets
                # both read: only wait for the partner where it can get here too.
                if db.dialect == "postgres":
                    await asyncio.wait_for(both_read.wait(), 5)
                await tx.update("c", str(int(current.value) + 1), [], [])
        except RetryableConflict:
            return False
        return True

    try:
        committed = await asyncio.gather(increment(), increment())
        async with db.transaction(write=False) as tx:
            final = await tx.get("c")
        assert final is not None and int(final.value) == sum(committed)
        if db.dialect == "postgres":
            assert committed.count(False) == 1  # SSI aborted exactly one of the pair
    finally:
        await db.close()


async def test_layout_version_is_stored_and_newer_is_refused(database_url: str) -> None:
    db = open_database(database_url)
    await db.open()
    async with db.transaction(write=True) as tx:
        assert await tx.get_meta("layout_version") == str(LAYOUT_VERSION)
        await tx.set_meta("layout_version", str(LAYOUT_VERSION + 1))
    await db.close()
    again = open_database(database_url)
    with pytest.raises(DatabaseError, match=r"newer Mainspring \(layout 2"):
        await again.open()
    await again.close()


async def test_index_scan_uses_the_primary_key(database_url: str) -> None:
    db = open_database(database_url)
    await db.open()
    try:
        async with db.transaction(write=True) as tx:
            for n in range(2000):
                await tx.insert(doc(n), [(n % 4, n.to_bytes(2, "big"))])
        if isinstance(db, PostgresDatabase):
            # Real statistics rather than a fresh table's guesses: the index must win on merit,
            # no enable_seqscan=off needed.
            with psycopg.connect(db.conninfo, autocommit=True) as conn:
                conn.execute(f"SET search_path = {db.schema}")
                conn.execute("ANALYZE")
        plan = await db.explain_scan(1, b"\x01", b"\x05")
        open_plan = await db.explain_scan(2, b"", None)
    finally:
        await db.close()
    if db.dialect == "sqlite":
        assert "SEARCH e USING PRIMARY KEY (index_id=? AND key>? AND key<?)" in plan, plan
        assert "SEARCH e USING PRIMARY KEY (index_id=? AND key>?)" in open_plan, open_plan
        assert not any(line.startswith("SCAN") for line in (plan + "\n" + open_plan).split("\n"))
    else:
        for text in (plan, open_plan):
            assert "Index Scan using ms_index_entries_pkey" in text or (
                "Index Only Scan using ms_index_entries_pkey" in text
            ), text
            assert "Seq Scan on ms_index_entries" not in text, text


# -- documents through the runtime --------------------------------------------------------------


async def test_insert_get_patch_replace_delete(database_url: str) -> None:
    async with TestApp(CRUD, schema=SCHEMA, database=database_url) as t:
        task_id = await t.mutation(insert, {"table": "tasks", "doc": {**task("a"), "note": "n"}})
        stored = await t.query(get, {"id": task_id})
        assert stored == {
            "_id": task_id,
            "_creationTime": t.clock.now_ms(),
            **task("a"),
            "note": "n",
        }
        await t.advance_time(5)
        await t.mutation(patch, {"id": task_id, "fields": {"rank": 3}, "remove": ["note"]})
        patched = await t.query(get, {"id": task_id})
        expected = {k: v for k, v in stored.items() if k != "note"} | {"rank": 3}
        assert patched == expected  # system fields kept, `note` removed, `rank` set
        await t.mutation(replace, {"id": task_id, "doc": task("b", owner="bob", status="done")})
        assert await t.query(get, {"id": task_id}) == {
            "_id": task_id,
            "_creationTime": stored["_creationTime"],
            **task("b", owner="bob", status="done"),
        }
        with pytest.raises(ValidationError, match="_id cannot be changed"):
            await t.mutation(patch, {"id": task_id, "fields": {"_id": "other"}})
        await t.mutation(delete, {"id": task_id})
        assert await t.query(get, {"id": task_id}) is None
        for function, args in [
            (patch, {"fields": {"rank": 1}}),
            (replace, {"doc": task("c")}),
            (delete, {}),
        ]:
            with pytest.raises(DocumentNotFoundError, match=f"document {task_id} does not exist"):
                await t.mutation(function, {"id": task_id, **args})


async def test_ids_of_the_wrong_table_are_refused(database_url: str) -> None:
    @mutation
    async def assign(ctx: Any, task: Id[Tasks], user: Id[Users]) -> None:
        await ctx.db.patch(task, {"assignee": user})

    async with TestApp([*CRUD, assign], schema=SCHEMA, database=database_url) as t:
        task_id = await t.mutation(insert, {"table": "tasks", "doc": task("a")})
        user_id = await t.mutation(insert, {"table": "users", "doc": {"name": "ann"}})
        await t.mutation(assign, {"task": task_id, "user": user_id})
        assert (await t.query(get, {"id": task_id}))["assignee"] == user_id
        with pytest.raises(ValidationError, match="expected an id of table users, got an id of"):
            await t.mutation(assign, {"task": task_id, "user": task_id})
        with pytest.raises(ValidationError, match=r"assignee.*expected an id of table users"):
            await t.mutation(patch, {"id": task_id, "fields": {"assignee": task_id}})
        with pytest.raises(ValidationError, match="is not a document id"):
            await t.query(get, {"id": "not-an-id"})


async def test_schema_validation_names_table_field_expected_and_actual(database_url: str) -> None:
    async with TestApp(CRUD, schema=SCHEMA, database=database_url) as t:
        with pytest.raises(ValidationError) as info:
            await t.mutation(insert, {"table": "tasks", "doc": {**task("a"), "rank": "high"}})
        message = str(info.value)
        assert "'tasks'" in message and "`rank`" in message
        assert "integer" in message and "str 'high'" in message, message
        with pytest.raises(ValidationError, match=r"`status` .*'todo' or 'done'.*'later'"):
            await t.mutation(insert, {"table": "tasks", "doc": task("a", status="later")})
        with pytest.raises(ValidationError, match="`owner` is required but missing"):
            await t.mutation(insert, {"table": "tasks", "doc": {"title": "x", "status": "todo"}})
        with pytest.raises(ValidationError, match="`extra` is not declared"):
            await t.mutation(insert, {"table": "users", "doc": {"name": "a", "extra": 1}})
        with pytest.raises(SchemaError, match="table 'notes' is not declared in the schema"):
            await t.mutation(insert, {"table": "notes", "doc": {"text": "hi"}})
        assert await t.query(scan, {"table": "tasks"}) == []


async def test_schemaless_app_stores_anything(database_url: str) -> None:
    async with TestApp(CRUD, database=database_url) as t:
        first = await t.mutation(insert, {"table": "notes", "doc": {"text": "hi", "tags": [1]}})
        await t.advance_time(1)  # creation order is time order only when the clock moves
        await t.mutation(insert, {"table": "notes", "doc": {"other": {"nested": True}}})
        notes = await t.query(scan, {"table": "notes"})
        assert notes[0]["_id"] == first
        assert [{k: v for k, v in n.items() if not k.startswith("_")} for n in notes] == [
            {"text": "hi", "tags": [1]},
            {"other": {"nested": True}},
        ]


async def test_a_failing_mutation_writes_nothing(database_url: str) -> None:
    @mutation
    async def insert_then_fail(ctx: Any) -> None:
        await ctx.db.insert("counters", {"name": "ghost", "value": 1})
        await ctx.db.insert("brand_new_table", {"x": 1})  # a table created in the same tx
        raise AppError("changed my mind")

    async with TestApp([*CRUD, insert_then_fail], database=database_url) as t:
        with pytest.raises(AppError, match="changed my mind"):
            await t.mutation(insert_then_fail)
        assert await t.query(scan, {"table": "counters"}) == []
        assert await t.query(scan, {"table": "brand_new_table"}) == []
        # The rolled-back table creation must not linger in the catalog cache either.
        new_id = await t.mutation(insert, {"table": "brand_new_table", "doc": {"x": 2}})
        assert [d["_id"] for d in await t.query(scan, {"table": "brand_new_table"})] == [new_id]


# -- queries --------------------------------------------------------------------------------------


async def _tasks(t: TestApp) -> dict[str, str]:
    """Insert a fixed set of tasks, one per millisecond; title -> id."""
    ids = {}
    for title, owner, rank, status in [
        ("a1", "ann", 1, "todo"),
        ("b2", "bob", 2, "done"),
        ("a3", "ann", 3, "done"),
        ("a2", "ann", 2, "todo"),
        ("b1", "bob", 1, "todo"),
        ("a4", "ann", 4, "todo"),
    ]:
        ids[title] = await t.mutation(
            insert, {"table": "tasks", "doc": task(title, owner, rank, status)}
        )
        await t.advance_time(1)
    return ids


async def test_with_index_ranges(database_url: str) -> None:
    async with TestApp(CRUD, schema=SCHEMA, database=database_url) as t:
        await _tasks(t)

        async def titles(index: str, *ops: list[Any], order: str = "asc") -> list[str]:
            docs = await t.query(
                scan, {"table": "tasks", "index": index, "ops": list(ops), "order": order}
            )
            return [d["title"] for d in docs]

        assert await titles("by_owner_rank") == ["a1", "a2", "a3", "a4", "b1", "b2"]
        assert await titles("by_owner_rank", ["eq", "owner", "bob"]) == ["b1", "b2"]
        assert await titles("by_owner_rank", ["eq", "owner", "ann"], ["eq", "rank", 3]) == ["a3"]
        ann = ["eq", "owner", "ann"]
        assert await titles("by_owner_rank", ann, ["gt", "rank", 2]) == ["a3", "a4"]
        assert await titles("by_owner_rank", ann, ["gte", "rank", 2]) == ["a2", "a3", "a4"]
        assert await titles("by_owner_rank", ann, ["lt", "rank", 3]) == ["a1", "a2"]
        assert await titles("by_owner_rank", ann, ["lte", "rank", 3]) == ["a1", "a2", "a3"]
        between = [ann, ["gt", "rank", 1], ["lte", "rank", 3]]
        assert await titles("by_owner_rank", *between) == ["a2", "a3"]
        assert await titles("by_owner_rank", *between, order="desc") == ["a3", "a2"]
        assert await titles("by_owner_rank", ["gte", "owner", "b"]) == ["b1", "b2"]
        assert await titles("by_owner_rank", ann, ["gt", "rank", 4]) == []
        assert await titles("by_owner_rank", ["eq", "owner", "zed"]) == []
        assert await titles("by_status", ["eq", "status", "done"]) == ["b2", "a3"]  # then by time
        assert await titles("by_creation_time", order="desc") == [
            "a4",
            "b1",
            "a2",
            "a3",
            "b2",
            "a1",
        ]


@pytest.mark.parametrize(
    ("index", "ops", "message"),
    [
        ("by_owner_rank", [["eq", "rank", 1]], "must name the next index field, 'owner'"),
        ("by_owner_rank", [["gt", "rank", 1]], "must bound the next index field, 'owner'"),
        ("by_owner_rank", [["gt", "owner", "a"], ["eq", "rank", 1]], "after a range bound"),
        ("by_owner_rank", [["gt", "owner", "a"], ["gte", "owner", "b"]], "two lower bounds"),
        ("by_owner_rank", [["lt", "owner", "a"], ["lte", "owner", "b"]], "two upper bounds"),
        ("by_owner_rank", [["gt", "owner", "a"], ["lt", "rank", 5]], "bounds on two fields"),
        (
            "by_status",
            [["eq", "status", "todo"], ["eq", "owner", "x"]],
            "next index field, 'nothing'",
        ),
        ("by_colour", [], "table 'tasks' has no index 'by_colour'"),
    ],
)
async def test_invalid_index_ranges_are_clear_errors(
    database_url: str, index: str, ops: list[list[Any]], message: str
) -> None:
    async with TestApp(CRUD, schema=SCHEMA, database=database_url) as t:
        await t.mutation(insert, {"table": "tasks", "doc": task("a")})
        with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
            await t.query(scan, {"table": "tasks", "index": index, "ops": ops})


async def test_order_filter_take_first_unique(database_url: str) -> None:
    @query
    async def pick(ctx: Any, how: str, owner: str) -> Any:
        q = ctx.db.query("tasks").order("desc").filter(lambda d: d["owner"] == owner)
        if how == "take":
            return [d["title"] for d in await q.take(2)]
        if how == "first":
            found = await q.first()
            return found and found["title"]
        found = await q.filter(lambda d: d["rank"] == 3 or d["owner"] == "bob").unique()
        return found and found["title"]

    @query
    async def take_zero(ctx: Any) -> int:
        return len(await ctx.db.query("tasks").take(0))

    async with TestApp([*CRUD, pick, take_zero], schema=SCHEMA, database=database_url) as t:
        await _tasks(t)
        assert await t.query(pick, {"how": "take", "owner": "ann"}) == ["a4", "a2"]
        assert await t.query(pick, {"how": "take", "owner": "zed"}) == []
        assert await t.query(pick, {"how": "first", "owner": "bob"}) == "b1"
        assert await t.query(pick, {"how": "first", "owner": "zed"}) is None
        assert await t.query(pick, {"how": "unique", "owner": "ann"}) == "a3"
        assert await t.query(pick, {"how": "unique", "owner": "zed"}) is None
        with pytest.raises(ValidationError, match="unique\\(\\) on 'tasks' found more than one"):
            await t.query(pick, {"how": "unique", "owner": "bob"})
        assert await t.query(take_zero) == 0


async def test_paginate_every_document_exactly_once(database_url: str) -> None:
    @query
    async def page(ctx: Any, cursor: str | None, n: int, order: str = "asc") -> dict[str, Any]:
        q = ctx.db.query("tasks").with_index("by_owner_rank", lambda q: q.eq("owner", "ann"))
        return await q.order(order).paginate({"numItems": n, "cursor": cursor})

    async with TestApp([*CRUD, page], schema=SCHEMA, database=database_url) as t:
        original = []
        for rank in range(0, 40, 2):  # ranks 0, 2, ..., 38, interleaved with another owner
            original.append(
                await t.mutation(insert, {"table": "tasks", "doc": task("a", "ann", rank)})
            )
            await t.mutation(insert, {"table": "tasks", "doc": task("b", "bob", rank)})
        seen: list[str] = []
        cursor: str | None = None
        added: list[str] = []
        for number in range(20):
            result = await t.query(page, {"cursor": cursor, "n": 7})
            again = await t.query(page, {"cursor": cursor, "n": 7})
            assert again == result  # a cursor is a stable position, not a session
            seen += [d["_id"] for d in result["page"]]
            cursor = result["continueCursor"]
            if result["isDone"]:
                break
            assert len(result["page"]) == 7
            # Writes between pages: one before the cursor (not seen), one after it (seen).
            before = {"table": "tasks", "doc": task("late", "ann", -1)}
            after = {"table": "tasks", "doc": task("late", "ann", 100 + number)}
            await t.mutation(insert, before)
            added.append(await t.mutation(insert, after))
        assert len(seen) == len(set(seen))
        assert seen[: len(original)] == original and seen[len(original) :] == added
        final = await t.query(page, {"cursor": cursor, "n": 7})
        assert final["page"] == [] and final["isDone"] is True
        # Descending pages cover the same documents in reverse.
        backwards, cursor = [], None
        while True:
            result = await t.query(page, {"cursor": cursor, "n": 9, "order": "desc"})
            backwards += [d["_id"] for d in result["page"]]
            cursor = result["continueCursor"]
            if result["isDone"]:
                break
        assert backwards[: len(added) + len(original)] == (original + added)[::-1]
        assert len(backwards) == len(original) + 2 * len(added)


async def test_query_reads_one_snapshot_while_a_mutation_commits(database_url: str) -> None:
    hook: list[Any] = []

    @query
    async def read_twice(ctx: Any, id: str) -> list[Any]:
        first = await ctx.db.get(id)
        first_count = len(await ctx.db.query("counters").collect())
        await hook[0]()  # another transaction commits here
        second = await ctx.db.get(id)
        second_count = len(await ctx.db.query("counters").collect())
        return [first["value"], second["value"], first_count, second_count]

    async with TestApp([*CRUD, read_twice], schema=SCHEMA, database=database_url) as t:
        await t.mutation(bump, {"name": "a"})
        counter = (await t.query(scan, {"table": "counters"}))[0]["_id"]

        async def commit_meanwhile() -> None:
            await t.mutation(bump, {"name": "a"})
            await t.mutation(bump, {"name": "b"})

        hook.append(commit_meanwhile)
        assert await t.query(read_twice, {"id": counter}) == [1, 1, 1, 1]
        hook[0] = lambda: asyncio.sleep(0)
        assert await t.query(read_twice, {"id": counter}) == [2, 2, 2, 2]


async def test_concurrent_mutations_in_one_process_lose_nothing(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with TestApp(CRUD, schema=SCHEMA, database=database_url) as t:
        await t.mutation(bump, {"name": "c"})
        before = _ATTEMPTS[0]
        await asyncio.gather(*(t.mutation(bump, {"name": "c"}) for _ in range(30)))
        assert [d["value"] for d in await t.query(scan, {"table": "counters"})] == [31]
    if "postgres" in database_url:
        assert _ATTEMPTS[0] - before > 30  # conflicts happened and were retried...
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == []  # ...without a driver warning per conflict


# -- schema changes across restarts -----------------------------------------------------------


class ItemsV1(Table):
    name: str
    rank: int


class ItemsV2(ItemsV1, indexes={"by_rank": ["rank"]}):
    pass


async def test_new_index_is_backfilled_and_removed_index_dropped(database_url: str) -> None:
    @query
    async def ranked(ctx: Any, below: int) -> list[str]:
        q = ctx.db.query("items").with_index("by_rank", lambda q: q.lt("rank", below))
        return [d["name"] for d in await q.collect()]

    functions = [*CRUD, ranked]
    async with TestApp(functions, schema=Schema(items=ItemsV1), database=database_url) as t:
        for name, rank in [("c", 3), ("a", 1), ("d", 4), ("b", 2)]:
            await t.mutation(insert, {"table": "items", "doc": {"name": name, "rank": rank}})
        with pytest.raises(ValidationError, match="has no index 'by_rank'"):
            await t.query(ranked, {"below": 9})
    async with TestApp(functions, schema=Schema(items=ItemsV2), database=database_url) as t:
        assert await t.query(ranked, {"below": 4}) == ["a", "b", "c"]  # built at start-up
        await t.mutation(insert, {"table": "items", "doc": {"name": "a0", "rank": 0}})
        assert await t.query(ranked, {"below": 2}) == ["a0", "a"]
    db = open_database(database_url)
    await db.open()
    async with db.transaction(write=False) as tx:
        (by_rank,) = [i for i in await tx.indexes() if i.name == "by_rank"]
        assert len(await tx.scan(by_rank.id, b"", None, False, 100)) == 5
    await db.close()
    async with TestApp(functions, schema=Schema(items=ItemsV1), database=database_url) as t:
        with pytest.raises(ValidationError, match="has no index 'by_rank'"):
            await t.query(ranked, {"below": 9})
        assert len(await t.query(scan, {"table": "items"})) == 5
    await db.open()
    async with db.transaction(write=False) as tx:
        assert by_rank not in await tx.indexes()
        assert await tx.scan(by_rank.id, b"", None, False, 100) == []  # entries are gone too
    await db.close()


# -- several processes on one database --------------------------------------------------------

PROCESSES, INCREMENTS = 4, 50


def _counter_process(url: str, barrier: Any, results: Any) -> None:
    """One OS process: start the app (all at once), then bump one shared counter."""

    async def main() -> tuple[int, int]:
        async with TestApp(CRUD, schema=SCHEMA, database=url) as t:
            barrier.wait(60)  # every process is up: the increments overlap
            for _ in range(INCREMENTS):
                await t.mutation(bump, {"name": "shared"})
            return _ATTEMPTS[0], INCREMENTS

    try:
        results.put(asyncio.run(main()))
    except BaseException as exc:
        barrier.abort()  # the others fail fast instead of waiting for this one
        results.put(f"{type(exc).__name__}: {exc}")
        raise


async def test_processes_incrementing_one_counter_lose_nothing(database_url: str) -> None:
    """N processes start against one fresh database at once, then race on one document."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    workers = [
        context.Process(target=_counter_process, args=(database_url, barrier, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    outcomes = [await asyncio.to_thread(results.get, True, 120) for _ in workers]
    for worker in workers:
        await asyncio.to_thread(worker.join, 30)
    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    assert [w.exitcode for w in workers] == [0] * PROCESSES
    async with TestApp(CRUD, schema=SCHEMA, database=database_url) as t:
        counters = await t.query(scan, {"table": "counters"})
    assert [(c["name"], c["value"]) for c in counters] == [("shared", PROCESSES * INCREMENTS)]
    attempts = sum(a for a, _ in outcomes)
    assert attempts >= PROCESSES * INCREMENTS
    if "postgres" in database_url:
        # Under SERIALIZABLE the racing read-modify-writes must have conflicted and been
        # retried; SQLite's single writer lock makes them queue instead.
        assert attempts > PROCESSES * INCREMENTS, outcomes


# -- PostgreSQL only ------------------------------------------------------------------------------


@pytest.mark.postgres
async def test_postgres_swallowed_error_still_fails_the_commit(pg_url: str) -> None:
    """An aborted PostgreSQL transaction cannot commit, even if the caller caught the error."""
    db = open_database(pg_url)
    await db.open()
    try:
        with pytest.raises(DatabaseError, match="duplicate key"):
            async with db.transaction(write=True) as tx:
                await tx.insert(doc(1), [])
                await tx.insert(doc(1), [])
                with contextlib.suppress(DatabaseError):
                    await tx.get("doc00001")  # the duplicate's error surfaces here; swallowed
        async with db.transaction(write=False) as tx:
            assert await tx.get("doc00001") is None
    finally:
        await db.close()


@pytest.mark.postgres
async def test_postgres_catalog_race_is_retryable(pg_url: str) -> None:
    """Two processes creating one table: the loser's unique violation is a conflict to retry."""
    db = open_database(pg_url)
    await db.open()
    try:
        async with db.transaction(write=True) as tx:
            await tx.create_table("things", 10_000)
        with pytest.raises(RetryableConflict, match="concurrent catalog change"):
            async with db.transaction(write=True) as tx:
                await tx.create_table("things", 10_001)
        with pytest.raises(RetryableConflict, match="concurrent catalog change"):
            async with db.transaction(write=True) as tx:
                await tx.create_index(IndexRow(1, 10_000, "by_x", ("x",)))
                await tx.create_index(IndexRow(2, 10_000, "by_x", ("y",)))
    finally:
        await db.close()


@pytest.mark.postgres
async def test_postgres_schema_pool_and_url_handling(pg_url: str) -> None:
    db = PostgresDatabase(pg_url + "&pool_min_size=2&pool_max_size=3")
    assert (db.min_size, db.max_size, db.schema) == (2, 3, pg_url.rsplit("=", 1)[1])
    assert "schema" not in db.conninfo and "pool_" not in db.conninfo
    await db.open()
    # A lone write is sent without BEGIN: the pool's connections make it serializable.
    async with db.transaction(write=True) as tx:
        await tx.set_meta("probe", "1")  # held, then sent alone
        assert isinstance(tx, _PgTransaction) and tx._pipeline is None
        default = await tx.conn.execute("SHOW default_transaction_isolation")
        assert await default.fetchone() == ("serializable",)
    async with db.transaction(write=False) as tx:
        assert await tx.get_meta("probe") == "1"
    await db.close()
    with psycopg.connect(db.conninfo) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
            (db.schema,),
        ).fetchall()
    assert [name for (name,) in tables] == [
        "ms_documents",
        "ms_index_entries",
        "ms_indexes",
        "ms_meta",
        "ms_tables",
    ]
    with pytest.raises(DatabaseError, match="invalid schema name"):
        PostgresDatabase("postgresql://postgres@127.0.0.1/test?schema=Robert'); DROP")
    unreachable = PostgresDatabase("postgresql://postgres:hunter2@127.0.0.1:1/test?schema=x")
    with pytest.raises(DatabaseError, match=r"postgresql://postgres@127\.0\.0\.1:1/test") as info:
        await unreachable.open()
    assert "hunter2" not in str(info.value)
