"""End to end: ``mainspring serve`` and ``mainspring dev`` as real processes, called over HTTP.

The example app is served on SQLite and on PostgreSQL (two worker processes each) and called
with the Python client, with raw HTTP in Convex's wire format, and with ``mainspring run
--url``. ``dev`` is checked to reload when a function file changes.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mainspring import AppError, Client, FunctionNotFoundError
from tests.support.paths import EXAMPLE_APP
from tests.support.server_process import mainspring_env, run_cli, start_server


def post(url: str, kind: str, path: str, args: dict[str, Any]) -> httpx.Response:
    """A call as curl would make it: Convex's documented JSON body."""
    body = {"path": path, "args": args, "format": "json"}
    return httpx.post(f"{url}/api/{kind}", json=body, timeout=30)


def test_serve_end_to_end(database_url: str, tmp_path: Path) -> None:
    env = mainspring_env(MAINSPRING_DB_URL=database_url)
    key = run_cli("admin-key", "--app", str(EXAMPLE_APP), env=env).stdout.strip()
    assert key.startswith("ms_admin_")
    log = tmp_path / "serve.log"
    with start_server("serve", EXAMPLE_APP, env, log, "--workers", "2") as server:
        assert server.url in server.log()

        # The project's Python client.
        with Client(server.url) as client:
            ada = client.mutation("users:create", {"name": "Ada"})
            first = client.mutation("notes:add", {"author": ada, "body": "hello"})
            notes = client.query("notes:list_by_author", {"author": ada})
            assert [n["_id"] for n in notes] == [first]
            assert client.action("notes:add_many", {"author": ada, "bodies": ["a", "b"]}) == 3
            with pytest.raises(AppError) as caught:
                client.mutation("users:create", {"name": "Ada"})
            assert caught.value.data == {"code": "NAME_TAKEN", "name": "Ada"}
            with pytest.raises(FunctionNotFoundError):
                client.query("notes:count")  # internal: not public
        with Client(server.url, admin_key=key) as admin:
            assert admin.function("notes:count") == 3

        # Raw HTTP, Convex's wire format.
        added = post(server.url, "mutation", "notes:add", {"author": ada, "body": "raw"})
        assert added.status_code == 200
        body = added.json()
        assert body["status"] == "success" and isinstance(body["value"], str)
        assert body["logLines"] == [f"[LOG] note {body['value']} added"]
        removed = post(server.url, "mutation", "notes:remove", {"id": first})
        assert removed.json() == {"status": "success", "value": None, "logLines": []}
        again = post(server.url, "mutation", "notes:remove", {"id": first})
        assert again.status_code == 560
        error = again.json()
        assert error["status"] == "error" and error["logLines"] == []
        assert error["errorData"] == {"code": "NOT_FOUND", "id": first}
        assert isinstance(error["errorMessage"], str)

        # The CLI against the running deployment.
        found = run_cli("run", "--url", server.url, "users:by_name", '{"name": "Ada"}', env=env)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["_id"] == ada
        with_key = {**env, "MAINSPRING_ADMIN_KEY": key}
        counted = run_cli("run", "--url", server.url, "notes:count", env=with_key)
        assert (counted.returncode, counted.stdout.strip()) == (0, "3")
        refused = run_cli("run", "--url", server.url, "notes:count", env=env)
        assert refused.returncode == 1
        assert "Could not find public function" in refused.stderr
        assert "--admin-key" in refused.stderr
        logged = run_cli(
            "run",
            "--url",
            server.url,
            "notes:add",
            json.dumps({"author": ada, "body": "x"}),
            env=env,
        )
        assert logged.returncode == 0 and "[LOG] note" in logged.stderr
        failed = run_cli(
            "run", "--url", server.url, "notes:remove", json.dumps({"id": first}), env=env
        )
        assert failed.returncode == 1
        assert 'notes:remove raised AppError: {"code": "NOT_FOUND"' in failed.stderr

    # What the server wrote, read in-process by the CLI.
    counts = run_cli("data", "--app", str(EXAMPLE_APP), "--json", env=env)
    assert counts.returncode == 0, counts.stderr
    assert json.loads(counts.stdout)["notes"] == 4


GREETING = """\
from mainspring import query


@query
async def hello(ctx) -> str:
    return {value!r}
"""


def wait_for(check: Any, what: str, server_log: Any, timeout: float = 45) -> Any:
    """Poll ``check()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{server_log()}")


def test_dev_reloads_when_a_function_file_changes(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE_APP, app, ignore=shutil.ignore_patterns(".mainspring", "__pycache__"))
    greeting = app / "backend" / "greeting.py"
    greeting.write_text(GREETING.format(value="v1"))
    env = mainspring_env()
    with start_server("dev", app, env, tmp_path / "dev.log") as server:
        assert "Watching" in server.log()

        def hello() -> Any:
            response = post(server.url, "query", "greeting:hello", {})
            return response.json().get("value") if response.status_code == 200 else None

        assert hello() == "v1"
        greeting.write_text(GREETING.format(value="v2"))
        wait_for(lambda: hello() == "v2", "the reload to v2", server.log)

        # A broken save keeps the server up, answering 503 with the error...
        greeting.write_text("def broken(:\n")

        def refused() -> bool:
            response = post(server.url, "query", "greeting:hello", {})
            return response.status_code == 503 and "SyntaxError" in response.text

        wait_for(refused, "the broken app's 503", server.log)
        # ...and the next good save brings it back.
        greeting.write_text(GREETING.format(value="v3"))
        wait_for(lambda: hello() == "v3", "the reload to v3", server.log)
    assert (app / ".mainspring" / "db.sqlite3").exists()
