"""Fixed page boundaries: ``endCursor`` and query journals, as ``usePaginatedQuery`` needs.

A live page's first run takes ``numItems`` items and leaves a journal (its end); every re-run
under that journal ends at the same position, however many items now lie before it, so pages
loaded one after another cover the query without gaps or duplicates while documents come and
go. See :mod:`mainspring.db.page_journal` and ``Query.paginate``. Each test runs on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import AsyncIterator
from typing import Any, Literal, NotRequired

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mainspring import Schema, Table, ValidationError, mutation, query
from mainspring.db.page_journal import JournalScope, current_journal_scope, journal_scope
from mainspring.testing import TestApp

Order = Literal["asc", "desc"]


class Items(Table, indexes={"by_rank": ["channel", "rank"]}):
    channel: str
    rank: int
    hidden: NotRequired[bool]


SCHEMA = Schema(items=Items)


@mutation
async def add(ctx: Any, channel: str, rank: int, hidden: bool = False) -> str:
    doc: dict[str, Any] = {"channel": channel, "rank": rank}
    if hidden:
        doc["hidden"] = True
    return await ctx.db.insert("items", doc)


@mutation
async def remove(ctx: Any, id: str) -> None:
    await ctx.db.delete(id)


def _items(ctx: Any, channel: str, order: Order, visible_only: bool = False) -> Any:
    q = ctx.db.query("items").with_index("by_rank", lambda q: q.eq("channel", channel))
    q = q.order(order)
    return q.filter(lambda d: not d.get("hidden", False)) if visible_only else q


@query
async def page(
    ctx: Any,
    channel: str,
    paginationOpts: dict[str, Any],
    order: Order = "asc",
    visible_only: bool = False,
) -> dict[str, Any]:
    """One page of a channel's items by rank (the query ``usePaginatedQuery`` would page)."""
    return await _items(ctx, channel, order, visible_only).paginate(paginationOpts)


@query
async def everything(
    ctx: Any, channel: str, order: Order = "asc", visible_only: bool = False
) -> list[int]:
    return [d["rank"] for d in await _items(ctx, channel, order, visible_only).collect()]


@query
async def by_creation(ctx: Any, paginationOpts: dict[str, Any]) -> dict[str, Any]:
    return await ctx.db.query("items").paginate(paginationOpts)


@query
async def keyword_page(ctx: Any, end: str) -> dict[str, Any]:
    """The keyword form of paginate(), with an end."""
    return await _items(ctx, "c", "asc").paginate(num_items=1, cursor=None, end_cursor=end)


@query
async def two_pages(ctx: Any, channel: str, first: dict[str, Any], second: dict[str, Any]) -> Any:
    """Two paginate() calls in one run; only the first may use the journal."""
    one = await ctx.db.query("items").paginate(first)  # by creation time
    two = await _items(ctx, channel, "asc").paginate(second)
    return [one, two]


@query
async def after_awaits(ctx: Any, channel: str, paginationOpts: dict[str, Any]) -> dict[str, Any]:
    """paginate() after awaits, in a task of its own: the journal scope must follow."""
    await asyncio.sleep(0)
    await asyncio.sleep(0.001)
    task = asyncio.create_task(_items(ctx, channel, "asc").paginate(paginationOpts))
    return await task


FUNCTIONS = [add, remove, page, everything, by_creation, keyword_page, two_pages, after_awaits]


def opts(num_items: float = 100, cursor: str | None = None, **more: Any) -> dict[str, Any]:
    """``paginationOpts`` as the React hook sends them (``id`` included, to be ignored)."""
    return {"numItems": num_items, "cursor": cursor, "id": 1, **more}


async def live(t: TestApp, args: dict[str, Any], journal: str | None) -> tuple[Any, str | None]:
    """Run ``page`` as a live query run: inside a journal scope, returning its journal."""
    with journal_scope(journal) as scope:
        result = await t.query(page, args)
    return result, scope.journal_out


def ranks(result: dict[str, Any]) -> list[int]:
    return [d["rank"] for d in result["page"]]


async def fill(t: TestApp, channel: str, ranks_: list[int]) -> dict[int, str]:
    return {r: await t.mutation(add, {"channel": channel, "rank": r}) for r in ranks_}


# -- the journal scope on its own ----------------------------------------------------------------


def test_scope_is_claimed_once_and_restored_on_exit() -> None:
    assert current_journal_scope() is None
    with journal_scope("j1") as outer:
        assert current_journal_scope() is outer and outer.journal_in == "j1"
        assert outer.journal_out is None
        with journal_scope(None) as inner:
            assert current_journal_scope() is inner
        assert current_journal_scope() is outer
        assert outer.claim() is True
        assert outer.claim() is False
    assert current_journal_scope() is None
    with pytest.raises(RuntimeError), journal_scope("j2"):
        raise RuntimeError
    assert current_journal_scope() is None
    assert isinstance(JournalScope("x"), JournalScope)


# -- first runs ----------------------------------------------------------------------------------


async def test_first_run_records_the_end_of_its_page(database_url: str) -> None:
    async with TestApp(FUNCTIONS, schema=SCHEMA, database=database_url) as t:
        await fill(t, "c", [10, 20, 30, 40, 50])
        first, journal = await live(t, {"channel": "c", "paginationOpts": opts(2)}, None)
        assert ranks(first) == [10, 20] and first["isDone"] is False
        assert journal == first["continueCursor"]
        # The same page outside any scope is the same page: journals change nothing there.
        assert await t.query(page, {"channel": "c", "paginationOpts": opts(2)}) == first
        second, journal2 = await live(
            t, {"channel": "c", "paginationOpts": opts(3, first["continueCursor"])}, None
        )
        assert ranks(second) == [30, 40, 50] and second["isDone"] is True
        # A last page's journal is the end of the query, not its last item: it must keep
        # growing as items are appended, since no page follows it to catch them.
        assert isinstance(journal2, str) and journal2 == second["continueCursor"]
        assert journal2 != journal
        # A run without paginate() leaves no journal (nor does a failed one: see below).
        with journal_scope("anything") as scope:
            await t.query(everything, {"channel": "c"})
        assert scope.journal_out is None
        assert current_journal_scope() is None


async def test_empty_and_missing_tables_give_growing_pages(database_url: str) -> None:
    # No schema: the table does not exist until the first insert, so the first page's
    # journal is made without an index; it must still fit once the table exists.
    async with TestApp(FUNCTIONS, database=database_url) as t:
        empty, journal = await live_creation(t, opts(2), None)
        assert empty["page"] == [] and empty["isDone"] is True
        assert isinstance(empty["continueCursor"], str) and journal == empty["continueCursor"]
        await t.mutation(add, {"channel": "c", "rank": 1})
        await t.mutation(add, {"channel": "c", "rank": 2})
        await t.mutation(add, {"channel": "c", "rank": 3})
        grown, journal = await live_creation(t, opts(2), journal)
        assert [d["rank"] for d in grown["page"]] == [1, 2, 3] and grown["isDone"] is True
        # The empty page's continueCursor, used as a cursor, starts at the beginning.
        after_empty = await t.query(
            by_creation, {"paginationOpts": opts(2, empty["continueCursor"])}
        )
        assert [d["rank"] for d in after_empty["page"]] == [1, 2]


async def live_creation(
    t: TestApp, options: dict[str, Any], journal: str | None
) -> tuple[Any, str | None]:
    with journal_scope(journal) as scope:
        result = await t.query(by_creation, {"paginationOpts": options})
    return result, scope.journal_out


# -- re-runs under a journal ---------------------------------------------------------------------


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_rerun_under_its_journal_keeps_the_page_boundaries(
    database_url: str, order: Order
) -> None:
    async with TestApp(FUNCTIONS, schema=SCHEMA, database=database_url) as t:
        ids = await fill(t, "c", [10, 20, 30, 40, 50, 60])
        await fill(t, "other", [15, 35])  # outside the index range
        sizes = [3, 2, 2]
        pages: list[tuple[str | None, str | None]] = []  # (cursor, journal) per page
        cursor: str | None = None
        for size in sizes:
            args = {"channel": "c", "order": order, "paginationOpts": opts(size, cursor)}
            result, journal = await live(t, args, None)
            pages.append((cursor, journal))
            cursor = result["continueCursor"]
        first = [10, 20, 30] if order == "asc" else [60, 50, 40]
        low, high = (5, 70) if order == "asc" else (70, 5)  # before all / after all, in order
        inside = 15 if order == "asc" else 55  # inside page 1
        between = 35  # after page 1's last item, before page 2's first (both orders)

        async def rerun() -> list[list[int]]:
            out = []
            for number, (cursor, journal) in enumerate(pages):
                args = {"channel": "c", "order": order, "paginationOpts": opts(1, cursor)}
                result, journal_out = await live(t, args, journal)
                out.append(ranks(result))
                last = number == len(pages) - 1
                assert result["isDone"] is last
                if not last:  # a fixed end: the same cursor, the same journal
                    assert result["continueCursor"] == journal == journal_out
                    assert pages[number + 1][0] == journal
            return out

        expected = sorted([10, 20, 30, 40, 50, 60], reverse=order == "desc")
        assert await rerun() == [expected[:3], expected[3:5], expected[5:]]
        await fill(t, "c", [low, inside, between, high])
        pages_now = await rerun()
        assert pages_now[0] == sorted([*first, low, inside], reverse=order == "desc")
        assert pages_now[1][0] == between
        assert pages_now[2][-1] == high
        everything_now = await t.query(everything, {"channel": "c", "order": order})
        assert list(itertools.chain(*pages_now)) == everything_now
        # Deleting the item a page ends with shrinks that page; the next still starts after
        # the same position, so nothing is seen twice or lost.
        await t.mutation(remove, {"id": ids[first[-1]]})
        pages_now = await rerun()
        assert first[-1] not in pages_now[0] and pages_now[1][0] == between
        assert list(itertools.chain(*pages_now)) == await t.query(
            everything, {"channel": "c", "order": order}
        )


async def test_journal_with_filters_and_two_channels(database_url: str) -> None:
    async with TestApp(FUNCTIONS, schema=SCHEMA, database=database_url) as t:
        for rank in range(1, 9):
            await t.mutation(add, {"channel": "c", "rank": rank, "hidden": rank % 3 == 0})
        args = {"channel": "c", "visible_only": True, "paginationOpts": opts(3)}
        first, journal = await live(t, args, None)
        assert ranks(first) == [1, 2, 4] and not first["isDone"]
        await t.mutation(add, {"channel": "c", "rank": 3, "hidden": False})
        await t.mutation(add, {"channel": "c", "rank": 4, "hidden": True})
        again, journal_again = await live(t, args, journal)
        assert ranks(again) == [1, 2, 3, 4] and journal_again == journal
        # A journal is a position in one query's order; another channel's page, on the same
        # index and order, reads the same position as its end (no items there).
        other, _ = await live(t, {**args, "channel": "x"}, journal)
        assert other["page"] == [] and other["continueCursor"] == journal


# -- endCursor -----------------------------------------------------------------------------------


async def test_end_cursor_option(database_url: str) -> None:
    async with TestApp(FUNCTIONS, schema=SCHEMA, database=database_url) as t:
        await fill(t, "c", [10, 20, 30, 40, 50])
        first = await t.query(page, {"channel": "c", "paginationOpts": opts(2)})
        end = first["continueCursor"]
        await fill(t, "c", [15])

        async def bounded(cursor: str | None, end_cursor: Any, **more: Any) -> dict[str, Any]:
            options = {**opts(1, cursor), "endCursor": end_cursor, **more}
            return dict(await t.query(page, {"channel": "c", "paginationOpts": options}))

        # numItems is ignored, the end is included, and the end is the continueCursor.
        result = await bounded(None, end, maximumRowsRead=1, maximumBytesRead=10)
        assert ranks(result) == [10, 15, 20] and result["continueCursor"] == end
        assert result["isDone"] is False
        # A split as the hook makes it: [start, split] and [split, end] cover the page once.
        split = (await t.query(page, {"channel": "c", "paginationOpts": opts(1)}))["continueCursor"]
        head, tail = await bounded(None, split), await bounded(split, end)
        assert ranks(head) == [10] and ranks(tail) == [15, 20]
        # An end before the start is an empty page that still ends there.
        empty = await bounded(end, split)
        assert empty["page"] == [] and empty["continueCursor"] == split
        # endCursor None is no end at all.
        assert ranks(await bounded(None, None)) == [10]
        # An explicit endCursor wins over the journal, and becomes the journal.
        with journal_scope(split) as scope:
            result = await bounded(None, end)
        assert ranks(result) == [10, 15, 20] and scope.journal_out == end
        # The keyword form takes one too (and numItems may be an integral float).
        assert ranks(await t.query(keyword_page, {"end": end})) == [10, 15, 20]
        float_size = await t.query(page, {"channel": "c", "paginationOpts": opts(2.0)})
        assert ranks(float_size) == [10, 15]


async def test_the_last_page_grows_and_its_cursor_continues_after_it(database_url: str) -> None:
    async with TestApp(FUNCTIONS, schema=SCHEMA, database=database_url) as t:
        await fill(t, "c", [10, 20, 30])
        args = {"channel": "c", "paginationOpts": opts(10)}
        last, journal = await live(t, args, None)
        assert ranks(last) == [10, 20, 30] and last["isDone"] is True
        # The continueCursor of a last page, as the next page's cursor: what follows its
        # last item (nothing yet), and a string like every cursor.
        after = await t.query(
            page, {"channel": "c", "paginationOpts": opts(5, last["continueCursor"])}
        )
        assert after["page"] == [] and after["isDone"] is True
        await fill(t, "c", [5, 25, 40, 50])
        grown, journal2 = await live(t, args, journal)
        assert ranks(grown) == [5, 10, 20, 25, 30, 40, 50] and grown["isDone"] is True
        assert grown["continueCursor"] == journal2
        # The first run's continueCursor still continues after 30 (a client polling with it
        # sees what was appended), while the re-run's continues after 50.
        tail = await t.query(
            page, {"channel": "c", "paginationOpts": opts(5, last["continueCursor"])}
        )
        assert ranks(tail) == [40, 50] and tail["isDone"] is True
        beyond = await t.query(
            page, {"channel": "c", "paginationOpts": opts(5, grown["continueCursor"])}
        )
        assert beyond["page"] == [] and beyond["isDone"] is True
        # As an explicit end, a last page's continueCursor also means "to the end".
        both = await t.query(
            page, {"channel": "c", "paginationOpts": opts(1, None, endCursor=journal)}
        )
        assert ranks(both) == ranks(grown) and both["isDone"] is True


# -- two pages stay gapless: a property ----------------------------------------------------------


@pytest_asyncio.fixture
async def app(database_url: str) -> AsyncIterator[TestApp]:
    async with TestApp(FUNCTIONS, schema=SCHEMA, database=database_url) as t:
        yield t


_channels = itertools.count()
_actions = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.integers(0, 40), st.booleans()),
        st.tuples(st.just("delete"), st.integers(0, 1000), st.just(False)),
        st.tuples(st.just("more"), st.integers(1, 4), st.just(False)),
    ),
    max_size=14,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    initial=st.lists(st.integers(0, 40), max_size=8),
    first_size=st.integers(1, 4),
    actions=_actions,
    order=st.sampled_from(["asc", "desc"]),
    visible_only=st.booleans(),
)
async def test_live_pages_cover_the_query_without_gaps_or_repeats(
    app: TestApp,
    initial: list[int],
    first_size: int,
    actions: list[tuple[str, int, bool]],
    order: Order,
    visible_only: bool,
) -> None:
    """Pages loaded one after another, each re-run under its journal after every write,
    always concatenate to a prefix of the whole query (all of it once the last is done)."""
    channel = f"p{next(_channels)}"
    base = {"channel": channel, "order": order, "visible_only": visible_only}
    ids = [await app.mutation(add, {"channel": channel, "rank": r}) for r in initial]
    pages: list[list[Any]] = []  # [cursor, numItems, journal, last result] per live page

    async def load_more(size: int) -> None:
        cursor = pages[-1][3]["continueCursor"] if pages else None
        result, journal = await live(app, {**base, "paginationOpts": opts(size, cursor)}, None)
        pages.append([cursor, size, journal, result])

    async def check() -> None:
        seen: list[int] = []
        for number, entry in enumerate(pages):
            cursor, size, journal, _ = entry
            # The same args as the first run, as the hook re-sends them: without the journal
            # an insert into one page would push an item out that the next never sees.
            args = {**base, "paginationOpts": opts(size, cursor)}
            result, journal_out = await live(app, args, journal)
            entry[2], entry[3] = journal_out, result
            seen += ranks(result)
            assert result["isDone"] is False or number == len(pages) - 1
        whole = await app.query(everything, base)
        assert seen == whole[: len(seen)]
        if pages and pages[-1][3]["isDone"]:
            assert seen == whole

    await load_more(first_size)
    await check()
    for action, value, flag in actions:
        if action == "insert":
            ids.append(await app.mutation(add, {"channel": channel, "rank": value, "hidden": flag}))
        elif action == "delete" and ids:
            await app.mutation(remove, {"id": ids.pop(value % len(ids))})
        elif action == "more" and not pages[-1][3]["isDone"]:
            await load_more(value)
        await check()


# -- bad cursors ---------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_bad_cursors_raise_invalid_cursor(database_url: str) -> None:
    async with TestApp(FUNCTIONS, schema=SCHEMA, database=database_url) as t:
        await fill(t, "c", [1, 2, 3])
        good = (await t.query(page, {"channel": "c", "paginationOpts": opts(1)}))["continueCursor"]
        desc = (await t.query(page, {"channel": "c", "order": "desc", "paginationOpts": opts(1)}))[
            "continueCursor"
        ]
        other_index = (await t.query(by_creation, {"paginationOpts": opts(1)}))["continueCursor"]
        bad: list[Any] = [
            "garbage!",
            "AAAA",
            _b64(b"\x00\x00\x00\x05abc"),  # the layout before end cursors
            _b64(b"\x99" + good[:3].encode()),
            good[:6],  # too short to hold the index
            good + "A" * ((1 - len(good)) % 4 or 4),  # no base64 string is 4k+1 long
            good + "==",
            "+" + good[1:],  # base64 decoding would take it; only the canonical form counts
            "é" + good,
            desc,  # made for the other order
            other_index,  # made for another index
            12,
        ]
        for value in bad:
            for options in (opts(1, value), opts(1, None, endCursor=value)):
                with pytest.raises(ValidationError, match="InvalidCursor"):
                    await t.query(page, {"channel": "c", "paginationOpts": options})
            if isinstance(value, str):
                with (
                    pytest.raises(ValidationError, match="InvalidCursor"),
                    journal_scope(value) as scope,
                ):
                    await t.query(page, {"channel": "c", "paginationOpts": opts(1)})
                assert scope.journal_out is None
        # The same index and order in another query (another channel) is fine.
        elsewhere = await t.query(page, {"channel": "x", "paginationOpts": opts(1, good)})
        assert elsewhere["page"] == [] and elsewhere["isDone"] is True
        with pytest.raises(ValidationError, match="numItems must be a positive integer"):
            await t.query(page, {"channel": "c", "paginationOpts": opts(0)})


# -- one journal per run, carried by the context -------------------------------------------------


async def test_only_the_first_paginate_of_a_run_uses_the_journal(database_url: str) -> None:
    async with TestApp(FUNCTIONS, schema=SCHEMA, database=database_url) as t:
        await fill(t, "c", [10, 20, 30, 40])
        created = (await t.query(by_creation, {"paginationOpts": opts(2)}))["continueCursor"]
        by_rank = (await t.query(page, {"channel": "c", "paginationOpts": opts(3)}))[
            "continueCursor"
        ]
        args = {"channel": "c", "first": opts(1), "second": opts(1)}
        # The journal bounds the first paginate (two items) and is its journal; the second,
        # on another index, would refuse it as an InvalidCursor had it taken it.
        with journal_scope(created) as scope:
            one, two = await t.query(two_pages, args)
        assert [d["rank"] for d in one["page"]] == [10, 20] and ranks(two) == [10]
        assert scope.journal_out == created == one["continueCursor"]
        # And the journal of a by_rank page is the first paginate's problem, not the second's.
        with pytest.raises(ValidationError, match="InvalidCursor"), journal_scope(by_rank):
            await t.query(two_pages, args)
        # Without a journal, the first paginate's end becomes the journal.
        with journal_scope(None) as scope:
            one, two = await t.query(two_pages, args)
        assert scope.journal_out == one["continueCursor"] != two["continueCursor"]


async def test_the_journal_follows_awaits_and_stays_in_its_block(database_url: str) -> None:
    async with TestApp(FUNCTIONS, schema=SCHEMA, database=database_url) as t:
        await fill(t, "c", [10, 20, 30, 40])
        first = await t.query(page, {"channel": "c", "paginationOpts": opts(2)})
        end = first["continueCursor"]

        async def run(journal: str | None) -> tuple[list[int], str | None]:
            with journal_scope(journal) as scope:
                await asyncio.sleep(0)
                result = await t.query(after_awaits, {"channel": "c", "paginationOpts": opts(1)})
            assert current_journal_scope() is None
            return ranks(result), scope.journal_out

        # Concurrent live runs (as a sync server makes them) each see their own journal.
        bounded, free = await asyncio.gather(run(end), run(None))
        assert bounded == ([10, 20], end)
        assert free[0] == [10] and free[1] is not None and free[1] != end
        # Outside the block nothing is journaled: numItems counts again.
        assert current_journal_scope() is None
        plain = await t.query(after_awaits, {"channel": "c", "paginationOpts": opts(1)})
        assert ranks(plain) == [10]
