"""The example app (examples/app) works as its docstrings say, in the test harness."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mainspring import AppError, FunctionNotFoundError, ValidationError
from mainspring.ids import new_id
from mainspring.storage.files import STORAGE_NUMBER
from mainspring.testing import TestApp
from tests.support.paths import EXAMPLE_APP

BACKEND = EXAMPLE_APP / "backend"


@pytest.fixture
async def app() -> AsyncIterator[TestApp]:
    async with TestApp(BACKEND, crons=False) as t:
        yield t


async def test_users_are_unique_by_name(app: TestApp) -> None:
    ada = await app.mutation("users:create", {"name": " Ada "})
    assert (await app.query("users:get", {"id": ada}))["name"] == "Ada"
    assert (await app.query("users:by_name", {"name": "Ada"}))["_id"] == ada
    assert await app.query("users:by_name", {"name": "Bob"}) is None
    with pytest.raises(AppError) as caught:
        await app.mutation("users:create", {"name": "Ada"})
    assert caught.value.data == {"code": "NAME_TAKEN", "name": "Ada"}
    await app.mutation("users:rename", {"id": ada, "name": "Lovelace"})
    assert (await app.query("users:get", {"id": ada}))["name"] == "Lovelace"


async def test_notes_through_indexes_newest_first(app: TestApp) -> None:
    ada = await app.mutation("users:create", {"name": "Ada"})
    bob = await app.mutation("users:create", {"name": "Bob"})
    first = await app.mutation("notes:add", {"author": ada, "body": "one"})
    await app.advance_time(1)
    await app.mutation("notes:add", {"author": bob, "body": "bob's"})
    await app.advance_time(1)
    second = await app.mutation("notes:add", {"author": ada, "body": "two", "tags": ["x"]})
    notes = await app.query("notes:list_by_author", {"author": ada})
    assert [n["_id"] for n in notes] == [second, first]
    assert notes[0]["tags"] == ["x"] and notes[1]["tags"] == []
    await app.mutation("notes:set_pinned", {"id": first, "pinned": True})
    pinned = await app.query("notes:list_by_author", {"author": ada, "pinned_only": True})
    assert [n["_id"] for n in pinned] == [first]
    assert await app.query("notes:count", {"author": ada}) == 2
    assert await app.query("notes:count") == 3


async def test_notes_errors_carry_data(app: TestApp) -> None:
    ada = await app.mutation("users:create", {"name": "Ada"})
    with pytest.raises(AppError) as caught:
        await app.mutation("notes:add", {"author": ada, "body": "  "})
    assert caught.value.data["code"] == "EMPTY_NOTE"
    note = await app.mutation("notes:add", {"author": ada, "body": "x"})
    await app.mutation("notes:remove", {"id": note})
    with pytest.raises(AppError) as caught:
        await app.mutation("notes:remove", {"id": note})
    assert caught.value.data == {"code": "NOT_FOUND", "id": note}
    with pytest.raises(ValidationError, match="expected an id of table notes"):
        await app.mutation("notes:remove", {"id": ada})


async def test_pagination_walks_every_note_once(app: TestApp) -> None:
    ada = await app.mutation("users:create", {"name": "Ada"})
    ids = []
    for i in range(7):
        ids.append(await app.mutation("notes:add", {"author": ada, "body": f"n{i}"}))
        await app.advance_time(1)
    seen, cursor, pages = [], None, 0
    while True:
        result = await app.query("notes:page", {"num_items": 3, "cursor": cursor})
        seen += [n["_id"] for n in result["page"]]
        pages += 1
        if result["isDone"]:
            break
        cursor = result["continueCursor"]
    assert seen == list(reversed(ids))
    assert pages == 3


async def test_action_calls_mutations_and_an_internal_query(app: TestApp) -> None:
    ada = await app.mutation("users:create", {"name": "Ada"})
    assert await app.action("notes:add_many", {"author": ada, "bodies": ["a", "b", "c"]}) == 3
    assert len(await app.query("notes:list_by_author", {"author": ada})) == 3


async def test_documents_reference_stored_files(app: TestApp) -> None:
    file_id = new_id(STORAGE_NUMBER, 1_700_000_000_000)
    doc = await app.mutation("documents:save", {"name": "report.pdf", "file_id": file_id})
    listed = await app.query("documents:list")
    assert [(d["_id"], d["file_id"]) for d in listed] == [(doc, file_id)]
    ada = await app.mutation("users:create", {"name": "Ada"})
    with pytest.raises(ValidationError, match="expected an id of table _storage"):
        await app.mutation("documents:save", {"name": "x", "file_id": ada})


async def test_internal_functions_are_not_public(app: TestApp) -> None:
    with pytest.raises(FunctionNotFoundError):
        await app.runtime.run("notes:count", {})
    assert (await app.runtime.run("notes:count", {}, admin=True)).value == 0
