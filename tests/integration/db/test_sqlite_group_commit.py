"""SQLite's group commit: write transactions that queue share a COMMIT, each still all or
nothing on its own, and none returns before its writes are durable."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mainspring.db.base import StoredDocument
from mainspring.db.sqlite import SqliteDatabase
from mainspring.db.sqlite_writer import MAX_GROUP
from mainspring.errors import DatabaseError


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    database = SqliteDatabase(tmp_path / "db.sqlite3")
    await database.open()
    yield database
    await database.close()


def doc(n: int) -> StoredDocument:
    return StoredDocument(f"doc{n:05}", 10_000, float(n), f'{{"n":{n}}}')


def count_commits(database: SqliteDatabase) -> list[int]:
    """Counts the COMMITs the writer runs from now on (in the thread or inline)."""
    writes = database._writes
    assert writes is not None
    seen = [0]
    plain = writes.conn

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(plain, name)

        def execute(self, sql: str, *args: object) -> object:
            seen[0] += sql == "COMMIT"
            return plain.execute(sql, *args)

    writes.conn = Counting()  # type: ignore[assignment]
    return seen


async def stored(database: SqliteDatabase) -> list[str]:
    async with database.transaction(write=False) as tx:
        found = await tx.get_many([f"doc{n:05}" for n in range(1000)])
    return sorted(found)


async def test_queued_transactions_share_commits_and_fail_alone(db: SqliteDatabase) -> None:
    commits = count_commits(db)
    delivered: list[str | None] = []
    await db.listen("done", delivered.append)

    async def write(n: int) -> None:
        async with db.transaction(write=True) as tx:
            await tx.insert(doc(n), [(1, f"k{n:05}".encode())])
            await tx.notify("done", str(n))
            await asyncio.sleep(0)  # let the others queue up behind this one
            if n % 10 == 3:
                raise RuntimeError(f"member {n} fails")

    outcomes = await asyncio.gather(*(write(n) for n in range(200)), return_exceptions=True)
    failed = {n for n, outcome in enumerate(outcomes) if isinstance(outcome, RuntimeError)}
    assert failed == {n for n in range(200) if n % 10 == 3}
    kept = [f"doc{n:05}" for n in range(200) if n not in failed]
    assert await stored(db) == kept  # each failure took only its own writes
    # (None: the listener's poll saw the file change, as it may for any commit)
    payloads = sorted((d for d in delivered if d is not None), key=int)
    assert payloads == [str(int(k[3:])) for k in kept]
    assert len(kept) / MAX_GROUP <= commits[0] < 50  # shared: far fewer COMMITs than members
    async with db.transaction(write=False) as tx:
        assert len(await tx.scan(1, b"", None, False, 1000)) == len(kept)


async def test_alone_a_transaction_commits_at_once(db: SqliteDatabase) -> None:
    commits = count_commits(db)
    for n in range(3):
        async with db.transaction(write=True) as tx:
            await tx.insert(doc(n), [])
        assert commits[0] == n + 1  # committed before the block exited
    with pytest.raises(RuntimeError):
        async with db.transaction(write=True) as tx:
            await tx.insert(doc(9), [])
            raise RuntimeError("boom")
    assert commits[0] == 3 and await stored(db) == ["doc00000", "doc00001", "doc00002"]


async def test_a_cancelled_member_still_waits_for_its_commit(db: SqliteDatabase) -> None:
    """Its writes may be in the COMMIT already: it returns (cancelled) only once that ended,
    so the caller never sees the writer used or the writes undecided."""
    release = asyncio.Event()
    entered = asyncio.Event()

    async def first() -> None:
        async with db.transaction(write=True) as tx:
            await tx.insert(doc(1), [])
            entered.set()
            await release.wait()

    async def second() -> None:
        async with db.transaction(write=True) as tx:
            await tx.insert(doc(2), [])

    def durable(_: object) -> None:  # what another connection sees when `one` returns
        with contextlib.closing(sqlite3.connect(db.path)) as conn:
            seen.extend(row[0] for row in conn.execute("SELECT id FROM ms_documents"))

    seen: list[str] = []
    one = asyncio.create_task(first())
    one.add_done_callback(durable)
    await entered.wait()
    two = asyncio.create_task(second())
    await asyncio.sleep(0.01)  # two queues behind one: one leaves the commit to it
    release.set()
    await asyncio.sleep(0)
    one.cancel()
    outcomes = await asyncio.gather(one, two, return_exceptions=True)
    assert isinstance(outcomes[0], asyncio.CancelledError) and outcomes[1] is None
    assert sorted(seen) == ["doc00001", "doc00002"]  # committed before `one` returned
    assert await stored(db) == ["doc00001", "doc00002"]


async def test_a_failed_commit_fails_every_member_and_keeps_nothing(db: SqliteDatabase) -> None:
    """A deferred constraint fails only at COMMIT: every member of the group is told (none
    hangs), and none of their writes stays."""
    assert db._writes is not None
    conn = db._writes.conn
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute(
        "CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    go = asyncio.Event()

    async def good() -> None:
        async with db.transaction(write=True) as tx:
            await tx.insert(doc(1), [])
            await go.wait()  # the other queues behind this one

    async def bad() -> None:
        async with db.transaction(write=True) as tx:
            await tx.insert(doc(2), [])
            tx.conn.execute("INSERT INTO child (p) VALUES (42)")  # type: ignore[attr-defined]

    first = asyncio.create_task(good())
    await asyncio.sleep(0.01)
    second = asyncio.create_task(bad())
    await asyncio.sleep(0.01)
    go.set()
    outcomes = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 10)
    assert all(isinstance(o, DatabaseError) for o in outcomes), outcomes
    assert "FOREIGN KEY" in str(outcomes[0])
    assert await stored(db) == []
    async with db.transaction(write=True) as tx:  # the writer is usable again
        await tx.insert(doc(3), [])
    assert await stored(db) == ["doc00003"]
