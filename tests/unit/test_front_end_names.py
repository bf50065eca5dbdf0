"""camelCase aliases of function and argument names (``files:saveFile({storageId})`` for
``files:save_file(storage_id=...)``), as front ends written for Convex call them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mainspring import (
    FunctionNotFoundError,
    ValidationError,
    api,
    internal,
    internal_query,
    mutation,
    query,
)
from mainspring.db import open_database
from mainspring.names import camel_aliases, camel_case
from mainspring.registry import FunctionRegistry, load_app
from mainspring.runtime import Runtime
from mainspring.server import create_app
from tests.support.paths import APPS

APP = APPS / "codegen_app" / "backend"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("generate_upload_url", "generateUploadUrl"),
        ("list", "list"),
        ("getValue", "getValue"),
        ("get_2fa_code", "get2faCode"),
        ("_private_step", "_privateStep"),
        ("type_", "type"),
        ("from_", "from"),
        ("foo__bar", "fooBar"),
    ],
)
def test_camel_case(name: str, expected: str) -> None:
    assert camel_case(name) == expected


def test_camel_aliases_leave_out_real_names_and_shared_aliases() -> None:
    aliases = camel_aliases(["save_file", "get_value", "getValue", "foo_bar", "foo__bar", "x"])
    assert aliases == {"saveFile": "save_file"}


# -- function names ---------------------------------------------------------------------------


@query
async def list_with_urls(ctx: Any) -> str:
    return "snake"


@query
async def get_value(ctx: Any) -> str:
    return "alias target"


@query
async def getValue(ctx: Any) -> str:
    return "real camelCase function"


@query
async def foo_bar(ctx: Any) -> int:
    return 1


@query
async def foo__bar(ctx: Any) -> int:
    return 2


@internal_query
async def secret_step(ctx: Any) -> int:
    return 3


@pytest.fixture
def registry() -> FunctionRegistry:
    registry = FunctionRegistry()
    # getValue before get_value: the exact name must win whatever the order.
    for definition in (list_with_urls, getValue, get_value, foo_bar, foo__bar, secret_step):
        registry.add(f"files:{definition.name}", definition)
    return registry


def test_lookup_by_camel_case_name(registry: FunctionRegistry) -> None:
    assert registry.lookup("files:listWithUrls", allow_internal=False) is list_with_urls
    assert registry.lookup("files.js:listWithUrls", allow_internal=False) is list_with_urls
    assert registry.lookup("files:list_with_urls", allow_internal=False) is list_with_urls


def test_exact_name_wins_over_an_alias(registry: FunctionRegistry) -> None:
    assert registry.lookup("files:getValue", allow_internal=False) is getValue
    assert registry.lookup("files:get_value", allow_internal=False) is get_value
    assert "files:getValue" not in registry.aliases()


def test_a_shared_alias_names_neither_function(registry: FunctionRegistry) -> None:
    with pytest.raises(FunctionNotFoundError, match="files:fooBar"):
        registry.lookup("files:fooBar", allow_internal=False)
    assert registry.aliases() == {
        "files:listWithUrls": "files:list_with_urls",
        "files:secretStep": "files:secret_step",
    }


def test_aliases_keep_visibility_and_modules_stay_as_named(registry: FunctionRegistry) -> None:
    with pytest.raises(FunctionNotFoundError):
        registry.lookup("files:secretStep", allow_internal=False)
    assert registry.lookup("files:secretStep", allow_internal=True) is secret_step
    # Only the function part has aliases: a module is a file name.
    registry.add("my_files:save_it", query(_save_it))
    assert registry.lookup("my_files:saveIt", allow_internal=False).name == "_save_it"
    with pytest.raises(FunctionNotFoundError):
        registry.lookup("myFiles:saveIt", allow_internal=False)


async def _save_it(ctx: Any) -> None:
    return None


def test_server_side_references_resolve_aliases(registry: FunctionRegistry) -> None:
    assert registry.resolve(api.files.listWithUrls) is list_with_urls
    assert registry.resolve(internal.files.secretStep) is secret_step
    assert registry.resolve("files:listWithUrls") is list_with_urls


# -- argument names ---------------------------------------------------------------------------


@mutation
async def save_file(
    ctx: Any, storage_id: str, name: str, content_type: str = "application/octet-stream"
) -> str:
    return storage_id


@query
async def both_forms(ctx: Any, item_id: str, itemId: str) -> str:
    return item_id + itemId


def test_camel_case_arguments_are_renamed() -> None:
    checked = save_file.validate_args({"storageId": "s1", "name": "a.png", "contentType": "x"})
    assert checked == {"storage_id": "s1", "name": "a.png", "content_type": "x"}
    mixed = save_file.validate_args({"storage_id": "s1", "name": "a.png", "contentType": "x"})
    assert mixed == checked
    snake = save_file.validate_args({"storage_id": "s1", "name": "a.png"})
    assert snake == {
        "storage_id": "s1",
        "name": "a.png",
        "content_type": "application/octet-stream",
    }


def test_both_forms_of_one_argument_is_an_error_naming_both() -> None:
    with pytest.raises(ValidationError) as caught:
        save_file.validate_args({"storage_id": "s1", "storageId": "s2", "name": "a"})
    message = str(caught.value)
    assert "`storage_id`" in message and "`storageId`" in message
    assert message.startswith(f"{save_file.label}: invalid arguments")


def test_unknown_and_badly_typed_camel_case_arguments_are_still_errors() -> None:
    with pytest.raises(ValidationError, match="`storageID` is not declared"):
        save_file.validate_args({"storageID": "s1", "name": "a"})
    with pytest.raises(ValidationError, match="storage_id"):
        save_file.validate_args({"storageId": 5, "name": "a"})


def test_a_parameter_named_like_an_alias_keeps_its_own_name() -> None:
    assert both_forms.validate_args({"item_id": "a", "itemId": "b"}) == {
        "item_id": "a",
        "itemId": "b",
    }


# -- over HTTP --------------------------------------------------------------------------------


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    runtime = Runtime(load_app(APP), open_database(tmp_path / "db.sqlite3"))
    app = create_app(runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def _call(http: httpx.AsyncClient, path: str, args: dict[str, Any]) -> httpx.Response:
    body = {"path": path, "format": "convex_encoded_json", "args": [args]}
    return await http.post("/api/query", json=body)


async def test_camel_case_names_over_http(http: httpx.AsyncClient) -> None:
    response = await _call(http, "nested/deep:countUp", {"startAt": 41})
    assert response.status_code == 200, response.text
    assert response.json()["value"] == 42
    snake = await _call(http, "nested/deep:count_up", {"start_at": 1})
    assert snake.json()["value"] == 2
    exact = await _call(http, "shapes:getValue", {})
    assert exact.json()["value"] == "real"
    both = await _call(http, "nested/deep:countUp", {"startAt": 1, "start_at": 2})
    assert both.status_code == 400, both.text
    assert "`start_at` and `startAt`" in both.json()["message"]
    missing = await _call(http, "shapes:fooBar", {})
    assert missing.status_code == 404, missing.text
