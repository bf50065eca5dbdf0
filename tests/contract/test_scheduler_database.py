"""The two backend additions the scheduler relies on, on both backends: notifications that
arrive only on commit, and claims that skip what another transaction holds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from mainspring.db import open_database
from mainspring.db.base import Database, IndexRow, StoredDocument


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = open_database(database_url)
    await database.open()
    async with database.transaction(write=True) as tx:
        await tx.create_table("things", 10_000)
        await tx.create_index(IndexRow(1, 10_000, "by_key", ("k",)))
        for n in range(6):
            doc = StoredDocument(f"doc{n}", 10_000, float(n), "{}")
            await tx.insert(doc, [(1, bytes([n]))])
    yield database
    await database.close()


async def test_notifications_arrive_on_commit_only(db: Database) -> None:
    heard: list[str | None] = []
    arrived = asyncio.Event()

    def listener(payload: str | None) -> None:
        if payload is not None:  # None: "a commit happened elsewhere, look again"
            heard.append(payload)
            arrived.set()

    listening = await db.listen("wake", listener)
    with contextlib.suppress(RuntimeError):
        async with db.transaction(write=True) as tx:
            await tx.notify("wake", "rolled back")
            raise RuntimeError("roll back")
    async with db.transaction(write=True) as tx:
        await tx.notify("other channel", "not for us")
        await tx.notify("wake", "1700000000000.0")
    await asyncio.wait_for(arrived.wait(), 5)
    await asyncio.sleep(0.05)
    assert heard == ["1700000000000.0"]
    await listening.close()
    async with db.transaction(write=True) as tx:
        await tx.notify("wake", "after close")
    await asyncio.sleep(0.1)
    assert heard == ["1700000000000.0"]


async def test_claims_return_entries_in_order_and_skip_held_ones(db: Database) -> None:
    async with db.claim_transaction() as tx:
        rows = await tx.claim(1, b"\x01", b"\x05", 3)
        assert [doc.id for _, doc in rows] == ["doc1", "doc2", "doc3"]
        if db.dialect == "postgres":  # concurrent claimers: SQLite has one writer at a time
            async with db.claim_transaction() as other:
                taken = await other.claim(1, b"", None, 10)
                assert [doc.id for _, doc in taken] == ["doc0", "doc4", "doc5"]
    async with db.claim_transaction() as tx:
        rows = await tx.claim(1, b"", None, 10)
        assert len(rows) == 6  # released at the end of the transaction
