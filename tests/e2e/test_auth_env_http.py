"""Verified identities over HTTP, deployment environment variables, and HTTP actions."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from mainspring import Client
from tests.support.live_server import LiveServer, live_server
from tests.support.paths import APPS, EXAMPLE_APP

APP = APPS / "auth_app" / "backend"


def _auth_constants() -> tuple[str, str]:
    # Read by path: putting the functions folder itself on sys.path would let its http.py
    # shadow the standard library's http package (in this process and in spawned ones).
    spec = importlib.util.spec_from_file_location("auth_app_auth", APP / "auth.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SECRET, module.ISSUER


SECRET, ISSUER = _auth_constants()


def token(**claims: object) -> str:
    payload = {"sub": "ada", "iss": ISSUER, "aud": "app", "exp": time.time() + 600, **claims}
    return jwt.encode(payload, SECRET, algorithm="HS256")


@pytest.fixture
def server(database_url: str) -> Iterator[LiveServer]:
    with live_server(database_url, APP) as live:  # type: ignore[arg-type]
        yield live


def test_bearer_token_gives_a_verified_identity(server: LiveServer) -> None:
    with Client(server.url, auth=token(email="ada@example.test")) as client:
        identity = client.query("whoami:identity")
    assert identity["subject"] == "ada"
    assert identity["tokenIdentifier"] == f"{ISSUER}|ada"
    assert identity["email"] == "ada@example.test"
    with Client(server.url) as anonymous:
        assert anonymous.query("whoami:identity") is None


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda: token(exp=time.time() - 600), "expired"),
        (lambda: token(aud="other"), "Audience"),
        (
            lambda: jwt.encode(
                {"sub": "x", "iss": ISSUER, "aud": "app", "exp": time.time() + 60},
                "another-secret-0123456789-0123456789",
                algorithm="HS256",
            ),
            "Signature",
        ),
        (lambda: "garbage", "malformed"),
    ],
)
def test_invalid_tokens_are_a_401(server: LiveServer, bad: object, message: str) -> None:
    response = httpx.post(
        f"{server.url}/api/query",
        json={"path": "whoami:identity", "args": [{}]},
        headers={"Authorization": f"Bearer {bad()}"},  # type: ignore[operator]
    )
    assert response.status_code == 401
    assert message in response.json()["message"]


def _mainspring(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mainspring",
            *args,
            "--db",
            db,
            "--app",
            str(APP.parent),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_env_set_from_another_process_is_seen_without_restart(
    server: LiveServer, database_url: str
) -> None:
    with Client(server.url) as client:
        assert client.query("whoami:env", {"name": "LARK_TOKEN"}) is None
        done = _mainspring("env", "set", "LARK_TOKEN", "s3cret-value", db=database_url)
        assert done.returncode == 0, done.stderr
        assert "s3cret-value" not in done.stdout + done.stderr  # set never echoes values
        deadline = time.monotonic() + 5
        while client.query("whoami:env", {"name": "LARK_TOKEN"}) != "s3cret-value":
            assert time.monotonic() < deadline, "the new value never became visible"
            time.sleep(0.1)
        listed = _mainspring("env", "list", db=database_url)
        assert "LARK_TOKEN=s3cret-value" in listed.stdout
    # And through the remote CLI, with the admin key.
    remote = subprocess.run(
        [
            sys.executable,
            "-m",
            "mainspring",
            "env",
            "remove",
            "LARK_TOKEN",
            "--url",
            server.url,
            "--admin-key",
            server.admin_key,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert remote.returncode == 0, remote.stderr
    with Client(server.url) as client:
        assert client.query("whoami:env", {"name": "LARK_TOKEN"}) is None  # own write: at once


def test_env_functions_need_the_admin_key(server: LiveServer) -> None:
    response = httpx.post(
        f"{server.url}/api/query", json={"path": "_system/env:list", "args": [{}]}
    )
    assert response.status_code == 404
    with Client(server.url, admin_key=server.admin_key) as admin:
        admin.mutation("_system/env:set", {"name": "A_B", "value": "x"})
        assert admin.query("_system/env:list") == {"A_B": "x"}
        with pytest.raises(Exception, match="invalid environment variable name"):
            admin.mutation("_system/env:set", {"name": "bad-name", "value": "x"})
        with pytest.raises(Exception, match="larger than 8 KiB"):
            admin.mutation("_system/env:set", {"name": "BIG", "value": "x" * 9000})


def test_http_actions_route_by_path_prefix_and_method(server: LiveServer) -> None:
    base = f"{server.url}/http"
    hello = httpx.get(f"{base}/hello?x=1", headers={"Authorization": f"Bearer {token()}"})
    assert hello.status_code == 200
    assert hello.json()["identity"]["subject"] == "ada"
    assert hello.json()["query"] == {"x": "1"}
    assert httpx.get(f"{base}/hello").json()["identity"] is None
    echo = httpx.post(f"{base}/echo", json={"a": [1, 2]})
    assert (echo.status_code, echo.json()) == (201, {"echo": {"a": [1, 2]}})
    assert httpx.get(f"{base}/files/a/b.txt").text == "file /http/files/a/b.txt"
    assert httpx.get(f"{base}/stream").text == "chunk 0\nchunk 1\nchunk 2\n"
    assert httpx.get(f"{base}/nope").status_code == 404
    wrong = httpx.delete(f"{base}/hello")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
    bad_token = httpx.get(f"{base}/hello", headers={"Authorization": "Bearer nope"})
    assert bad_token.status_code == 401


def test_http_action_failure_hides_details(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/http/broken")
    assert response.status_code == 500
    assert "secret internals" not in response.text
    assert "Request ID" in response.json()["message"]


def test_http_actions_cors(server: LiveServer) -> None:
    base = f"{server.url}/http"
    preflight = httpx.options(
        f"{base}/echo",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    refused = httpx.options(
        f"{base}/echo",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 403
    simple = httpx.get(f"{base}/hello", headers={"Origin": "https://app.example"})
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    other = httpx.get(f"{base}/hello", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


EXAMPLE = EXAMPLE_APP / "backend"


def test_admin_key_guards_every_internal_function(tmp_path: Path) -> None:
    from mainspring.registry import load_app

    internal = [d.path for d in load_app(EXAMPLE).registry if d.visibility == "internal"]
    with live_server(tmp_path / "db.sqlite3", EXAMPLE) as live:  # type: ignore[arg-type]
        internal += [d.path for d in live.runtime.registry if d.path.startswith("_system/")]
        assert len(internal) >= 5
        for path in internal:
            body = {"path": path, "args": {}, "format": "json"}
            anonymous = httpx.post(f"{live.url}/api/function", json=body)
            assert anonymous.status_code == 404, path
            wrong = httpx.post(
                f"{live.url}/api/function",
                json=body,
                headers={"Authorization": "Convex ms_admin_wrong"},
            )
            assert wrong.status_code == 401, path
            admin = httpx.post(
                f"{live.url}/api/function",
                json=body,
                headers={"Authorization": f"Convex {live.admin_key}"},
            )
            # Found and run (or refused for its arguments): never hidden from the admin.
            assert admin.status_code in (200, 400, 560), (path, admin.text)
            assert admin.json().get("code") != "FunctionNotFound", path
