"""The HTTP functions API: Convex's wire format, status codes, errors, auth, CORS and limits.

Most tests call the ASGI app in-process through httpx; the last ones run it under uvicorn on
a loopback port and use Mainspring's own Python clients.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import mainspring
from mainspring.db import open_database
from mainspring.registry import load_app
from mainspring.runtime import Runtime
from mainspring.server import create_app
from tests.support.live_server import BACKEND, live_server

LIMIT = 64 * 1024  # a small body limit, so the 413 tests stay cheap


class Api:
    """An in-process client of one app, with helpers for the JSON shapes."""

    def __init__(self, http: httpx.AsyncClient, runtime: Runtime) -> None:
        self.http = http
        self.runtime = runtime

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Convex {self.runtime.admin_key}"}

    async def call(
        self,
        kind: str,
        path: str,
        args: Any = None,
        *,
        headers: dict[str, str] | None = None,
        fmt: str = "convex_encoded_json",
    ) -> httpx.Response:
        body = {"path": path, "format": fmt, "args": [args if args is not None else {}]}
        return await self.http.post(f"/api/{kind}", json=body, headers=headers)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    runtime = Runtime(load_app(BACKEND), open_database(tmp_path / "db.sqlite3"))
    app = create_app(runtime, max_body_bytes=LIMIT)
    # The app's own lifespan starts and stops the runtime, as under uvicorn.
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Api(http, runtime)


def integer(n: int) -> dict[str, str]:
    return {"$integer": base64.b64encode(struct.pack("<q", n)).decode()}


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return str(body["message"])


# -- success ----------------------------------------------------------------------------------


async def test_query_success_shape(api: Api) -> None:
    response = await api.call("query", "calls:add", {"a": 2, "b": 3})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "success", "value": 5, "logLines": []}


async def test_mutation_and_action_with_log_lines_from_print_and_logging(api: Api) -> None:
    response = await api.call("mutation", "calls:send", {"body": "hello"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["value"], str) and len(body["value"]) > 10
    assert body["logLines"] == ["[LOG] sending hello", "[WARN] about to insert hello"]

    response = await api.call("action", "calls:send_and_count", {"body": "again"})
    assert response.status_code == 200, response.text
    assert response.json()["value"] == 2
    # The nested mutation's lines belong to the action's response.
    assert "[LOG] sending again" in response.json()["logLines"]
    listed = await api.call("query", "calls:list_messages")
    assert listed.json()["value"] == ["hello", "again"]


async def test_special_values_use_convex_encoding(api: Api) -> None:
    value = {
        "big": integer(2**60),
        "raw": {"$bytes": base64.b64encode(b"\x00\xff").decode()},
        "nan": {"$float": base64.b64encode(struct.pack("<d", float("nan"))).decode()},
        "small": 7,
        "text": "héllo ✓",
    }
    response = await api.call("query", "calls:echo", {"value": value})
    assert response.status_code == 200, response.text
    assert response.json()["value"] == value
    shifted = await api.call("query", "calls:shift", {"n": integer(5)})
    assert shifted.json()["value"] == integer(2**60 + 5)


async def test_plain_json_format_and_unwrapped_args(api: Api) -> None:
    # Convex's documented curl form: args as an object, format "json".
    body = {"path": "calls:echo", "format": "json", "args": {"value": integer(2**60)}}
    response = await api.http.post("/api/query", json=body)
    assert response.json()["value"] == str(2**60)
    body["args"] = {"value": {"$bytes": base64.b64encode(b"hi").decode()}}
    response = await api.http.post("/api/query", json=body)
    assert response.json()["value"] == base64.b64encode(b"hi").decode()
    # "json" is also the default when format is absent.
    response = await api.http.post("/api/query", json={"path": "calls:add", "args": {"a": 1}})
    assert response.json()["value"] == 2


@pytest.mark.parametrize(
    ("path", "expected"),
    [("ping", "pong"), ("ping:default", "pong"), ("ping.js", "pong"), ("ping.py", "pong")],
)
async def test_path_canonicalisation(api: Api, path: str, expected: str) -> None:
    response = await api.call("query", path)
    assert response.status_code == 200, response.text
    assert response.json()["value"] == expected


async def test_module_in_a_subfolder(api: Api) -> None:
    response = await api.call("query", "nested/deep.js:where")
    assert response.json()["value"] == "nested/deep"


async def test_function_endpoint_takes_args_object_and_any_kind(api: Api) -> None:
    response = await api.http.post(
        "/api/function",
        json={"path": "calls:send", "format": "convex_encoded_json", "args": {"body": "fn"}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["logLines"][0] == "[LOG] sending fn"
    response = await api.http.post("/api/function", json={"path": "calls:add", "args": {"a": 4}})
    assert response.json()["value"] == 5
    response = await api.http.post(
        "/api/function", json={"path": "calls:add", "args": {"a": 4}, "componentPath": "x"}
    )
    assert_error(response, 400, "BadRequest")


async def test_run_endpoint_get_and_post(api: Api) -> None:
    response = await api.http.post("/api/run/calls/add", json={"args": {"a": 1, "b": 1}})
    assert response.json() == {"status": "success", "value": 2, "logLines": []}
    response = await api.http.get("/api/run/nested/deep/where")
    assert response.json()["value"] == "nested/deep"
    response = await api.http.get("/api/run/calls/add", params={"args": json.dumps({"a": 9})})
    assert response.json()["value"] == 10
    response = await api.http.post("/api/run/ping", content=b"", headers={"content-length": "0"})
    assert response.json()["value"] == "pong"
    response = await api.http.get("/api/run/calls/add", params={"args": "{nope"})
    assert_error(response, 400, "BadJsonBody")


async def test_health_and_version(api: Api) -> None:
    assert (await api.http.get("/")).json() == {"status": "ok"}
    version = (await api.http.get("/version")).json()
    assert version == {"name": "mainspring", "version": mainspring.__version__}


# -- function errors (560) --------------------------------------------------------------------


async def test_app_error_with_structured_data(api: Api) -> None:
    data = {"code": "NOPE", "count": 3, "big": integer(2**60), "raw": {"$bytes": "AAE="}}
    response = await api.call("query", "calls:fail_with", {"data": data})
    assert response.status_code == 560
    body = response.json()
    assert body["status"] == "error"
    assert body["errorData"] == data
    assert json.loads(body["errorMessage"]) == data  # as ConvexError: the data as JSON
    assert body["logLines"] == ["[LOG] failing on purpose"]


async def test_app_error_with_a_string(api: Api) -> None:
    response = await api.call("query", "calls:fail_with", {"data": "out of stock"})
    assert response.status_code == 560
    body = response.json()
    assert body["errorMessage"] == "out of stock"
    assert body["errorData"] == "out of stock"


async def test_uncaught_error_is_hidden_and_logged_with_its_request_id(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="mainspring.server"):
        response = await api.call("query", "calls:crash")
    assert response.status_code == 560
    body = response.json()
    assert "errorData" not in body
    match = re.fullmatch(r"\[Request ID: ([0-9a-f]+)\] Server Error", body["errorMessage"])
    assert match, body
    assert "secret-internal-detail" not in response.text
    assert body["logLines"] == ["[ERROR] crashing now"]
    records = [r for r in caplog.records if r.name == "mainspring.server"]
    assert len(records) == 1
    assert match.group(1) in records[0].getMessage()
    assert records[0].exc_info is not None
    assert "secret-internal-detail" in str(records[0].exc_info[1])


async def test_validation_error_while_running_is_a_function_error(api: Api) -> None:
    response = await api.call("mutation", "calls:bad_insert")
    assert response.status_code == 560
    message = response.json()["errorMessage"]
    assert "Uncaught ValidationError" in message
    assert "body" in message
    assert (await api.call("query", "calls:list_messages")).json()["value"] == []


async def test_nested_call_to_a_missing_function_is_a_function_error(api: Api) -> None:
    response = await api.call("action", "calls:call_missing")
    assert response.status_code == 560
    assert "does_not_exist" in response.json()["errorMessage"]


# -- refused requests (4xx) -------------------------------------------------------------------


async def test_unknown_function_is_404(api: Api) -> None:
    message = assert_error(await api.call("query", "calls:nope"), 404, "FunctionNotFound")
    assert "calls:nope" in message
    assert_error(await api.call("query", "nowhere:add"), 404, "FunctionNotFound")


async def test_invalid_arguments_are_400(api: Api) -> None:
    message = assert_error(
        await api.call("query", "calls:add", {"a": "1"}), 400, "InvalidArguments"
    )
    assert "`a`" in message
    assert_error(await api.call("query", "calls:add", {}), 400, "InvalidArguments")
    assert_error(await api.call("query", "calls:add", {"a": 1, "zz": 2}), 400, "InvalidArguments")
    bad_integer = {"a": {"$integer": "not base64!"}}
    assert_error(await api.call("query", "calls:add", bad_integer), 400, "InvalidArguments")


@pytest.mark.parametrize(
    "args",
    [[], [{}, {}], "x", 3, None, [[{}]]],
    ids=["empty-list", "two-objects", "string", "number", "null", "nested-list"],
)
async def test_args_must_be_an_object_or_a_list_of_one(api: Api, args: Any) -> None:
    body = {"path": "calls:add", "format": "convex_encoded_json", "args": args}
    assert_error(await api.http.post("/api/query", json=body), 400, "InvalidArguments")


async def test_wrong_kind_is_400(api: Api) -> None:
    message = assert_error(
        await api.call("query", "calls:send", {"body": "x"}), 400, "WrongFunctionKind"
    )
    assert "mutation" in message
    assert (await api.call("query", "calls:list_messages")).json()["value"] == []


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "BadJsonBody"),
        (b"", "BadJsonBody"),
        (b"[1, 2]", "BadJsonBody"),
        (b"\xff\xfe\x00", "BadJsonBody"),
        (b"[" * 100_000 + b"]" * 100_000, "PayloadTooLarge"),
        (b"[" * 5_000 + b"]" * 5_000, "BadJsonBody"),
        (b'{"args": [{}]}', "InvalidPath"),
        (b'{"path": 3, "args": [{}]}', "InvalidPath"),
        (b'{"path": ":", "args": [{}]}', "InvalidPath"),
        (b'{"path": "calls:add", "format": "xml", "args": [{"a": 1}]}', "UnsupportedFormat"),
        (b'{"path": "calls:add", "format": ["json"], "args": [{"a": 1}]}', "UnsupportedFormat"),
        (b'{"path": ["calls:add"], "args": [{"a": 1}]}', "InvalidPath"),
    ],
    ids=[
        "malformed",
        "empty",
        "not-an-object",
        "bad-utf8",
        "deep-and-large",
        "deep",
        "no-path",
        "path-not-string",
        "bad-path",
        "bad-format",
        "unhashable-format",
        "unhashable-path",
    ],
)
async def test_bad_requests(api: Api, content: bytes, code: str) -> None:
    response = await api.http.post(
        "/api/query", content=content, headers={"content-type": "application/json"}
    )
    assert_error(response, 413 if code == "PayloadTooLarge" else 400, code)


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    choices: list[Any] = [
        None,
        True,
        rng.randint(-(2**70), 2**70),
        rng.random() * 1e300,
        "",
        "calls:add",
        "calls:count",
        ":",
        "$integer",
        "json",
        "convex_encoded_json",
        "\ud800",
        {"$integer": "AAAAAAAAAAA="},
        {"$bytes": 3},
        {"$float": "x"},
    ]
    if depth < 3:
        choices.append([_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))])
        keys = ["path", "args", "format", "componentPath", "a", "b", "value", "$x"]
        choices.append(
            {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}
        )
    return rng.choice(choices)


@pytest.mark.parametrize(
    ("endpoint", "path", "good_args"),
    [
        ("query", "calls:add", {"a": 1}),
        ("mutation", "calls:send", {"body": "x"}),
        ("action", "calls:send_and_count", {"body": "y"}),
        ("function", "calls:echo", {"value": 1}),
        ("run/calls/add", "ignored", {"a": 2}),
    ],
)
async def test_no_request_body_causes_a_server_error(
    api: Api, endpoint: str, path: str, good_args: dict[str, Any]
) -> None:
    rng = random.Random(endpoint)
    statuses: set[int] = set()
    for _ in range(200):
        body = _random_json(rng)
        if isinstance(body, dict) and rng.random() < 0.7:
            body.setdefault("path", rng.choice([path, path, "calls:echo", "ping", 1]))
            body.setdefault("args", rng.choice([[good_args], good_args, {"value": body.get("a")}]))
        content = json.dumps(body).encode()
        response = await api.http.post(f"/api/{endpoint}", content=content)
        statuses.add(response.status_code)
        assert response.status_code in (200, 400, 404, 560), (body, response.text)
        assert response.status_code != 560 or "Uncaught" in response.json()["errorMessage"]
    assert 200 in statuses and 400 in statuses  # the generator reaches both sides


async def test_content_type_is_checked_leniently(api: Api) -> None:
    body = json.dumps({"path": "calls:add", "args": [{"a": 1}]}).encode()
    for content_type in (None, "text/plain;charset=UTF-8", "application/json; charset=utf-8"):
        headers = {} if content_type is None else {"content-type": content_type}
        response = await api.http.post("/api/query", content=body, headers=headers)
        assert response.json()["value"] == 2, content_type
    for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = await api.http.post(
            "/api/query", content=body, headers={"content-type": content_type}
        )
        assert_error(response, 415, "UnsupportedMediaType")


async def test_oversized_body_by_content_length_is_413(api: Api) -> None:
    body = json.dumps({"path": "calls:echo", "args": [{"value": "x" * LIMIT}]}).encode()
    message = assert_error(await api.http.post("/api/query", content=body), 413, "PayloadTooLarge")
    assert str(LIMIT) in message


async def test_oversized_streamed_body_is_refused_while_streaming(api: Api) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the limit has to be enforced as the chunks arrive.
        yield b'{"path": "calls:echo", "args": [{"value": "'
        for _ in range(1000):
            sent.append(1)
            yield b"x" * 4096
        yield b'"}]}'

    response = await api.http.post("/api/query", content=chunks())
    assert_error(response, 413, "PayloadTooLarge")
    # The server stopped reading soon after the limit, not at the end of the body.
    assert len(sent) <= LIMIT // 4096 + 3


async def test_body_just_under_the_limit_is_accepted(api: Api) -> None:
    prefix = b'{"path":"calls:echo","args":[{"value":"'
    suffix = b'"}]}'
    body = prefix + b"x" * (LIMIT - len(prefix) - len(suffix)) + suffix
    assert len(body) == LIMIT
    response = await api.http.post("/api/query", content=body)
    assert response.status_code == 200
    assert len(response.json()["value"]) == LIMIT - len(prefix) - len(suffix)


async def test_wrong_method_and_unknown_endpoint(api: Api) -> None:
    response = await api.http.get("/api/query")
    assert_error(response, 405, "MethodNotAllowed")
    assert "POST" in response.headers["allow"]
    assert_error(await api.http.post("/api/nope", json={}), 404, "NotFound")
    assert_error(await api.http.get("/nope"), 404, "NotFound")


async def test_consistent_query_endpoints_say_not_supported(api: Api) -> None:
    assert_error(await api.http.post("/api/query_ts"), 501, "NotSupported")
    assert_error(await api.http.post("/api/query_at_ts", json={}), 501, "NotSupported")


# -- auth -------------------------------------------------------------------------------------


async def test_internal_function_needs_the_admin_key(api: Api) -> None:
    await api.call("mutation", "calls:send", {"body": "a"})
    hidden = await api.call("query", "calls:count")
    missing = await api.call("query", "calls:no_such_function")
    # Indistinguishable from a function that does not exist.
    assert_error(hidden, 404, "FunctionNotFound")
    assert hidden.json()["message"].replace("count", "X") == missing.json()["message"].replace(
        "no_such_function", "X"
    )
    assert_error(
        await api.call("query", "calls:count", headers={"Authorization": "Bearer abc"}),
        404,
        "FunctionNotFound",
    )
    response = await api.call("query", "calls:count", headers=api.admin)
    assert response.json() == {"status": "success", "value": 1, "logLines": []}


async def test_wrong_admin_key_is_401(api: Api) -> None:
    assert api.runtime.admin_key is not None
    for header in (
        "Convex ms_admin_wrong",
        f"Convex {api.runtime.admin_key}x",
        "Convex ",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
    ):
        response = await api.call("query", "calls:add", {"a": 1}, headers={"Authorization": header})
        assert_error(response, 401, "Unauthenticated")


async def test_invalid_bearer_token_is_refused(api: Api) -> None:
    response = await api.call("query", "calls:whoami", headers={"Authorization": "Bearer a.b.c"})
    assert response.status_code == 401
    assert "malformed token" in response.json()["message"]


async def test_bearer_token_without_auth_providers_is_refused(tmp_path: Path) -> None:
    from mainspring.registry import LoadedApp

    bare = LoadedApp(None, load_app(BACKEND).registry)  # the same functions, no auth.py
    runtime = Runtime(bare, open_database(tmp_path / "db.sqlite3"))
    await runtime.start()
    try:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.post(
                "/api/query",
                json={"path": "calls:whoami", "args": [{}]},
                headers={"Authorization": "Bearer a.b.c"},
            )
    finally:
        await runtime.stop()
    assert response.status_code == 401
    assert "no auth providers" in response.json()["message"]


async def test_admin_acting_as_a_user(api: Api) -> None:
    identity = {"subject": "u1", "issuer": "https://issuer.test", "email": "ada@example.com"}
    encoded = base64.b64encode(json.dumps(identity).encode()).decode()
    headers = {"Authorization": f"Convex {api.runtime.admin_key}:{encoded}"}
    response = await api.call("query", "calls:whoami", headers=headers)
    assert response.json()["value"] == {
        **identity,
        "tokenIdentifier": "https://issuer.test|u1",
    }
    headers = {"Authorization": f"Convex {api.runtime.admin_key}:!!notbase64"}
    assert_error(
        await api.call("query", "calls:whoami", headers=headers), 400, "BadActingAsIdentity"
    )


# -- CORS -------------------------------------------------------------------------------------


async def test_cors_preflight_and_response_headers(api: Api) -> None:
    response = await api.http.options(
        "/api/mutation",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, convex-client",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert int(response.headers["access-control-max-age"]) > 0
    # A header of the app's own is allowed too (no credentials: mirroring is safe).
    response = await api.http.options(
        "/api/query",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-Trace-Id",
        },
    )
    assert "x-trace-id" in response.headers["access-control-allow-headers"]
    assert "authorization" in response.headers["access-control-allow-headers"]
    # An OPTIONS that is not a preflight is just a wrong method.
    assert_error(await api.http.options("/api/query"), 405, "MethodNotAllowed")
    response = await api.call(
        "query", "calls:add", {"a": 1}, headers={"Origin": "https://app.example.com"}
    )
    assert response.headers["access-control-allow-origin"] == "*"
    # Errors carry the header too, so a browser can read them.
    response = await api.call("query", "calls:nope", headers={"Origin": "https://x.example"})
    assert response.status_code == 404
    assert response.headers["access-control-allow-origin"] == "*"
    response = await api.call("query", "calls:crash", headers={"Origin": "https://x.example"})
    assert response.status_code == 560
    assert response.headers["access-control-allow-origin"] == "*"
    response = await api.http.get("/api/query", headers={"Origin": "https://x.example"})
    assert response.status_code == 405
    assert response.headers["access-control-allow-origin"] == "*"


async def test_cors_is_only_for_the_api(api: Api) -> None:
    response = await api.http.get("/version", headers={"Origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in response.headers
    response = await api.http.options(
        "/version",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers


# -- a real server, Mainspring's own clients ---------------------------------------------------


def test_sync_client_against_uvicorn(tmp_path: Path) -> None:
    with (
        live_server(tmp_path / "db.sqlite3") as server,
        mainspring.Client(server.url) as client,
    ):
        assert client.query("calls:add", {"a": 1, "b": 2}) == 3
        assert isinstance(client.mutation("calls:send", {"body": "py"}), str)
        assert client.action("calls:send_and_count", {"body": "py2"}) == 2
        assert client.query("calls:shift", {"n": 5}) == 2**60 + 5
        data = {"code": "NOPE", "count": 3, "big": 2**60, "raw": b"\x00\xff", "list": [1.5]}
        with pytest.raises(mainspring.AppError) as raised:
            client.query("calls:fail_with", {"data": data})
        assert raised.value.data == data
        with pytest.raises(mainspring.ServerError, match=r"Request ID") as crashed:
            client.query("calls:crash")
        assert "secret-internal-detail" not in str(crashed.value)
        with pytest.raises(mainspring.FunctionNotFoundError):
            client.query("calls:count")
        with pytest.raises(mainspring.ValidationError, match="`a`"):
            client.query("calls:add", {"a": "x"})
        with pytest.raises(mainspring.NotAllowedError, match="mutation"):
            client.query("calls:send", {"body": "wrong kind"})
        with mainspring.Client(server.url, admin_key=server.admin_key) as admin:
            assert admin.query("calls:count") == 2
        # The default limit (8 MiB) holds on a real socket too, answered before the body ends.
        with pytest.raises(mainspring.ServerError, match="413") as too_large:
            client.query("calls:echo", {"value": "x" * (8 * 1024 * 1024)})
        assert too_large.value.status_code == 413
        assert client.query("calls:add", {"a": 1}) == 2  # and the server is still fine


async def test_async_client_against_uvicorn(tmp_path: Path) -> None:
    with live_server(tmp_path / "db.sqlite3") as server:
        async with mainspring.AsyncClient(server.url) as client:
            value = {"b": b"\x01", "n": None, "big": -(2**62), "f": 0.5}
            assert await client.query("calls:echo", {"value": value}) == value
            assert await client.mutation("calls:send", {"body": "a"})
            assert await client.action("calls:send_and_count", {"body": "b"}) == 2
            with pytest.raises(mainspring.AppError) as raised:
                await client.query("calls:fail_with", {"data": {"why": "because", "n": 1}})
            assert raised.value.data == {"why": "because", "n": 1}
            with pytest.raises(mainspring.ValidationError):
                await client.action("calls:send_and_count", {"body": 3})
        async with mainspring.AsyncClient(server.url, admin_key=server.admin_key) as admin:
            assert await admin.query("calls:count") == 2
