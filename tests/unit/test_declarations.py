"""Schemas, function declarations, references and argument validation."""

# This file uses the string form Id["users"] on purpose: linters read the table name as an
# undefined forward reference (F821) and would unquote it (UP037), so typed apps use Id[Users].
# ruff: noqa: F821, UP037

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal, NotRequired

import pytest

from mainspring import (
    AppError,
    FunctionNotFoundError,
    Id,
    NotAllowedError,
    Schema,
    SchemaError,
    StorageId,
    Table,
    ValidationError,
    api,
    internal,
    internal_query,
    mutation,
    query,
)
from mainspring.functions import FunctionReference, parse_path
from mainspring.testing import TestApp


class Tasks(Table, indexes={"by_status": ["status"], "by_owner_status": ["owner", "status"]}):
    title: str
    status: Literal["todo", "done"]
    owner: NotRequired[Id["users"]]
    tags: list[str]
    meta: dict[str, Any] | None


class Users(Table):
    name: str


schema = Schema(tasks=Tasks, users=Users)


def test_schema_collects_fields_and_indexes() -> None:
    table = schema.table("tasks")
    assert table is not None
    assert set(table.fields) == {"title", "status", "owner", "tags", "meta"}
    assert table.indexes == {"by_status": ["status"], "by_owner_status": ["owner", "status"]}


@pytest.mark.parametrize(
    ("indexes", "message"),
    [
        ({"by_id": ["x"]}, "reserved index name"),
        ({"bad index": ["x"]}, "invalid or reserved"),
        ({"by_y": ["y"]}, "unknown field 'y'"),
        ({"by_x": []}, "has no fields"),
        ({"by_xx": ["x", "x"]}, "repeats a field"),
    ],
)
def test_bad_indexes_are_named(indexes: dict[str, list[str]], message: str) -> None:
    class T(Table, indexes=indexes):
        x: str

    with pytest.raises(SchemaError, match=message):
        Schema(t=T)


def test_bad_table_declarations() -> None:
    class Private(Table):
        _secret: str

    with pytest.raises(SchemaError, match="may not start with '_'"):
        Schema(p=Private)
    with pytest.raises(SchemaError, match="invalid table name"):
        Schema(**{"9lives": Users})
    with pytest.raises(SchemaError, match="expected a Table subclass"):
        Schema(users=dict)  # type: ignore[arg-type]


def test_document_validation_names_table_field_expected_actual() -> None:
    table = schema.table("tasks")
    assert table is not None
    with pytest.raises(ValidationError) as err:
        table.check_document({"title": 3, "status": "todo", "tags": [], "meta": None}, "insert")
    assert "field `title`" in str(err.value)
    assert "valid string" in str(err.value) and "got int 3" in str(err.value)
    with pytest.raises(ValidationError, match=r"field `status`.*'todo' or 'done'"):
        table.check_document({"title": "a", "status": "x", "tags": [], "meta": None}, "insert")
    with pytest.raises(ValidationError, match="field `tags` is required"):
        table.check_document({"title": "a", "status": "done", "meta": None}, "insert")
    with pytest.raises(ValidationError, match="field `extra` is not declared"):
        table.check_document(
            {"title": "a", "status": "done", "tags": [], "meta": None, "extra": 1}, "insert"
        )


@query
async def list(ctx: Any, status: str = "todo", limit: int = 10) -> list[dict[str, Any]]:
    """A function named like a builtin must not break its own hints."""
    found: list[dict[str, Any]] = await ctx.db.query("tasks").take(limit)
    return found


@mutation
async def add(ctx: Any, title: str, owner: Id["users"] | None = None) -> Id["tasks"]:
    doc = {"title": title, "status": "todo", "tags": [], "meta": None}
    if owner is not None:
        doc["owner"] = owner
    task_id: str = await ctx.db.insert("tasks", doc)
    return task_id


@mutation
async def add_user(ctx: Any, name: str) -> str:
    user_id: str = await ctx.db.insert("users", {"name": name})
    return user_id


@mutation
async def fail(ctx: Any, data: Any) -> None:
    await ctx.db.insert("users", {"name": "ghost"})
    raise AppError(data)


@internal_query
async def secret(ctx: Any) -> str:
    return "s"


@query
async def bad_return(ctx: Any) -> int:
    return "nope"  # type: ignore[return-value]


@query
async def whoami(ctx: Any) -> str | None:
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else identity.token_identifier


@query
async def chatty(ctx: Any, n: int) -> int:
    print(f"hello {n}")
    logging.getLogger("user").warning("careful %d", n)
    await asyncio.sleep(0.01 * (3 - n))
    print(f"bye {n}")
    return n


FUNCTIONS = [list, add, add_user, fail, secret, bad_return, whoami, chatty]


async def test_arguments_are_validated_with_defaults() -> None:
    async with TestApp(FUNCTIONS, schema=schema) as t:
        assert await t.query("app:list") == []
        with pytest.raises(ValidationError, match=r"argument `limit`.*valid integer, got str"):
            await t.query("app:list", {"limit": "3"})
        with pytest.raises(ValidationError, match="argument `nope` is not declared"):
            await t.query("app:list", {"nope": 1})
        with pytest.raises(ValidationError, match="arguments must be an object"):
            await t.query("app:list", [1])  # type: ignore[arg-type]


async def test_id_arguments_check_the_table() -> None:
    async with TestApp(FUNCTIONS, schema=schema) as t:
        user = await t.mutation("app:add_user", {"name": "ada"})
        task = await t.mutation("app:add", {"title": "x", "owner": user})
        with pytest.raises(ValidationError, match="id of table users, got an id of table tasks"):
            await t.mutation("app:add", {"title": "y", "owner": task})
        with pytest.raises(ValidationError, match="which is not an id"):
            await t.mutation("app:add", {"title": "y", "owner": "garbage"})


async def test_app_error_rolls_back_and_carries_data() -> None:
    async with TestApp(FUNCTIONS, schema=schema) as t:
        with pytest.raises(AppError) as err:
            await t.mutation("app:fail", {"data": {"code": 7}})
        assert err.value.data == {"code": 7}
        rows = await t.runtime.run("app:list", {})
        assert rows.value == []


async def test_return_values_are_validated() -> None:
    async with TestApp(FUNCTIONS, schema=schema) as t:
        with pytest.raises(ValidationError, match="app:bad_return: invalid return value"):
            await t.query("app:bad_return")


async def test_internal_functions_need_admin_at_top_level() -> None:
    async with TestApp(FUNCTIONS, schema=schema) as t:
        with pytest.raises(FunctionNotFoundError):
            await t.runtime.run("app:secret", {})
        assert (await t.runtime.run("app:secret", {}, admin=True)).value == "s"
        with pytest.raises(NotAllowedError, match="is a query, not a mutation"):
            await t.runtime.run("app:list", {}, kind="mutation")


async def test_identity_from_the_harness() -> None:
    async with TestApp(FUNCTIONS, schema=schema) as t:
        assert await t.query("app:whoami") is None
        ada = t.with_identity("ada", issuer="https://issuer.test", email="a@x")
        assert await ada.query("app:whoami") == "https://issuer.test|ada"


async def test_logs_are_captured_per_call_even_when_interleaved() -> None:
    async with TestApp(FUNCTIONS, schema=schema) as t:
        results = await asyncio.gather(*(t.runtime.run("app:chatty", {"n": n}) for n in range(3)))
    for n, result in enumerate(results):
        assert result.value == n
        assert result.log_lines == [f"[LOG] hello {n}", f"[WARN] careful {n}", f"[LOG] bye {n}"]


def test_references_and_paths() -> None:
    assert api.jobs.handlers.send_email.reference() == FunctionReference(
        "jobs/handlers:send_email", "public"
    )
    assert internal.orders.process.reference().visibility == "internal"
    assert parse_path("files") == "files:default"
    assert parse_path("files.js:get") == "files:get"
    with pytest.raises(FunctionNotFoundError):
        api.files.reference()


def test_sync_functions_are_refused() -> None:
    with pytest.raises(SchemaError, match="must be `async def`"):

        @query
        def sync(ctx: Any) -> None:  # type: ignore[arg-type]
            return None


class Owners(Table):
    name: str


class Pets(Table):
    owner: Id[Owners]
    photo: StorageId | None


async def test_id_of_a_table_class() -> None:
    with pytest.raises(ValidationError, match="Owners is not part of a Schema"):
        Schema(pets=Pets).table("pets").check_document(  # type: ignore[union-attr]
            {"owner": "x" * 28, "photo": None}, "insert"
        )
    pet_schema = Schema(owners=Owners, pets=Pets)

    @mutation
    async def adopt(ctx: Any, owner: Id[Owners]) -> Id[Pets]:
        pet: str = await ctx.db.insert("pets", {"owner": owner, "photo": None})
        return pet

    @mutation
    async def add_owner(ctx: Any) -> Id[Owners]:
        owner: str = await ctx.db.insert("owners", {"name": "o"})
        return owner

    async with TestApp([adopt, add_owner], schema=pet_schema) as t:
        owner = await t.mutation("app:add_owner")
        pet = await t.mutation("app:adopt", {"owner": owner})
        with pytest.raises(ValidationError, match="id of table owners, got an id of table pets"):
            await t.mutation("app:adopt", {"owner": pet})
    with pytest.raises(SchemaError, match="already the table 'owners'"):
        Schema(people=Owners)


@mutation
async def add_three(ctx: Any) -> list[str]:
    return [await ctx.db.insert("users", {"name": n}) for n in ("a", "b", "c")]


@query
async def user_names(ctx: Any) -> list[str]:
    return [u["name"] for u in await ctx.db.query("users").collect()]


async def test_inserts_in_one_millisecond_keep_their_order() -> None:
    async with TestApp([add_three, user_names], schema=schema) as t:
        for _ in range(5):
            await t.mutation("app:add_three")  # the virtual clock never moves
        assert await t.query("app:user_names") == ["a", "b", "c"] * 5
