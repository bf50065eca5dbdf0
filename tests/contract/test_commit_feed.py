"""The commit feed on every database: topics multiplexed on one channel, delivered only on
commit, to this process's and another process's listeners (a second ``Database`` object
stands in for another process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mainspring.db import open_database
from mainspring.db.base import Database
from mainspring.db.store import WriteSet
from mainspring.feed import CommitFeed


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    here, there = open_database(database_url), open_database(database_url)
    await here.open()
    await there.open()
    yield here, there
    await there.close()
    await here.close()


async def _until(check: object, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "not delivered in time"
        await asyncio.sleep(0.02)


async def test_topics_are_delivered_apart_and_only_on_commit(
    databases: tuple[Database, Database],
) -> None:
    here, there = databases
    sender, receiver = CommitFeed(here), CommitFeed(there)
    jobs: list[str | None] = []
    pools: list[str | None] = []
    first = await receiver.listen("jobs", jobs.append)
    await receiver.listen("pools", pools.append)
    with pytest.raises(RuntimeError):
        async with here.transaction(write=True) as tx:
            await sender.notify(tx, "jobs", "rolled back")
            raise RuntimeError("roll back")
    async with here.transaction(write=True) as tx:
        await tx.set_meta("feed-test", "1")  # notifications come with writes
        await sender.notify(tx, "jobs", "12.5")
    await sender.notify_now("pools", "a:b")  # the separator may appear in a payload
    if here.dialect == "sqlite":
        # Another process's commit (a write) is seen as a change of the file: None to
        # every topic.
        await _until(lambda: None in jobs and None in pools)
        assert "rolled back" not in jobs
    else:
        await _until(lambda: jobs == ["12.5"] and pools == ["a:b"])
    await first.close()
    await first.close()  # idempotent


async def test_in_process_listeners_hear_this_process_and_one_connection_serves_all(
    databases: tuple[Database, Database],
) -> None:
    here, _ = databases
    feed = CommitFeed(here)
    opened: list[str] = []
    listen = here.listen

    async def counting_listen(channel: str, callback: object) -> object:
        opened.append(channel)
        return await listen(channel, callback)  # type: ignore[arg-type]

    here.listen = counting_listen  # type: ignore[method-assign,assignment]
    heard: list[str | None] = []
    listenings = [await feed.listen(topic, heard.append) for topic in ("a", "b", "c")]
    assert opened == ["commits"]  # one channel, one connection, for every topic
    async with here.transaction(write=True) as tx:
        await feed.notify(tx, "b", "hello")
    await _until(lambda: "hello" in heard)
    for listening in listenings:
        await listening.close()
    heard.clear()
    async with here.transaction(write=True) as tx:
        await feed.notify(tx, "b", "after close")
    await asyncio.sleep(0.3)
    assert heard == []
    await feed.listen("a", heard.append)  # listening again opens the channel again
    assert opened == ["commits", "commits"]


def test_publish_reaches_every_subscriber_even_past_one_that_fails() -> None:
    feed = CommitFeed(open_database(":memory:"))
    seen: list[WriteSet] = []

    def broken(writes: WriteSet) -> None:
        raise RuntimeError("subscriber bug")

    feed.subscribe(broken)
    unsubscribe = feed.subscribe(seen.append)
    writes = WriteSet(documents={"x": "notes"})
    feed.publish(writes)
    assert seen == [writes]
    unsubscribe()
    feed.publish(writes)
    assert seen == [writes]
