"""The official ``convex`` npm clients (1.48.0) on a real Mainspring server's sync socket.

``tests/js/sync/`` holds the scripts (``npm ci`` installs their packages when missing);
``tests/apps/sync_app/`` is the app they talk to. Each script prints ``ok <check>`` per check and
``all <n> checks passed`` at the end; a script that needs the server restarted asks on
stdout (``@@ stop`` / ``@@ start``) and waits for ``done`` on stdin.

* live queries (SQLite, one in-process server; PostgreSQL, two ``mainspring serve``
  processes on one database with a client on each): subscriptions, read-your-writes,
  another client's writes, ConvexError from mutations and queries, auth (setAuth, refresh
  on the same socket, a rejected token, clearAuth);
* reconnect (``mainspring serve`` stopped — killed on SQLite, shut down on PostgreSQL — and
  started again on the same port and database): re-subscription with journals, resent
  mutations run exactly once;
* ``usePaginatedQuery`` under ``react-test-renderer``: pages stay gapless while items are
  inserted and removed, up to ``Exhausted``.

Needs ``node`` and ``npm``: without them the tests fail, they do not skip.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live_server import live_server
from tests.support.node_packages import node_tool, npm_ci
from tests.support.paths import APPS, JS
from tests.support.server_process import free_port, mainspring_env

NODE_DIR = JS / "sync"
APP = APPS / "sync_app"

pytestmark = pytest.mark.node

_PURPOSE = "the Convex sync protocol tests"


def _node() -> str:
    node = node_tool("node", _PURPOSE)
    npm_ci(NODE_DIR, NODE_DIR / "node_modules" / ".package-lock.json", _PURPOSE)
    return node


class SyncServer:
    """``mainspring serve`` for the sync app, stopped and started again on the same port."""

    def __init__(self, db_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = mainspring_env(MAINSPRING_DB_URL=db_url)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        assert self.process is None, "already running"
        command = [sys.executable, "-m", "mainspring", "serve", "--app", str(APP)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited early:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"the server was not ready after {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """Kill the server's whole process group at once (a crash: no graceful shutdown)."""
        self.stop(signal.SIGKILL)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Send ``sig`` to the server's process group and wait (SIGKILL after 20 s)."""
        process, self.process = self.process, None
        if process is None:
            return
        for each in (sig, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, each)
            try:
                process.wait(20)
                return
            except subprocess.TimeoutExpired:
                continue

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def sync_servers(db_url: str, tmp_path: Path, count: int = 1) -> Iterator[list[SyncServer]]:
    """``count`` servers on one database, started one after another."""
    servers = [SyncServer(db_url, tmp_path / f"server{i}.log") for i in range(count)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.kill()


def run_script(
    tmp_path: Path,
    *args: str,
    commands: dict[str, Callable[[], None]] | None = None,
    timeout: float = 90,
) -> list[str]:
    """Run ``node <args>`` in the package dir, answering its ``@@`` commands; its stdout lines.

    Fails the test unless the script ends with ``all <n> checks passed`` and exit code 0.
    """
    stderr_path = tmp_path / f"node-{args[0].removesuffix('.mjs')}.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [_node(), *args],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None and process.stdin is not None
        for raw in process.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            if not line.startswith("@@ "):
                continue
            command = line[3:]
            try:
                (commands or {})[command]()
                answer = "done"
            except Exception as exc:  # tell the script, which then fails with the reason
                answer = f"error {type(exc).__name__}: {exc}".replace("\n", " ")
            process.stdin.write(answer + "\n")
            process.stdin.flush()
        code = process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # a dead script's stdin refuses a flush
                    pipe.close()
    output = "\n".join(lines) + "\n--- stderr ---\n" + stderr_path.read_text(errors="replace")
    assert code == 0, f"node exited with {code}:\n{output}"
    assert not [line for line in lines if line.startswith("FAIL")], output
    checks = [line for line in lines if line.startswith("ok ")]
    assert lines and lines[-1] == f"all {len(checks)} checks passed", output
    return lines


LIVE_CHECKS = [
    "ok subscribe: onUpdate gets the initial result",
    "ok await mutation() resolves only once the write is visible",
    "ok concurrent mutations each resolve with their own write visible",
    "ok a second client sees the first client's mutation (and back)",
    "ok a failing mutation rejects with ConvexError data and writes nothing",
    "ok a failing query: QueryFailed with errorData reaches onError as ConvexError",
    "ok setAuth: queries re-run as the user (whoami shows the identity)",
    "ok clearAuth: anonymous again",
    "ok a short-lived token is refreshed on the same socket",
    "ok a rejected token: onChange(false) after the retries, then anonymous",
]


def _no_server_errors(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, "\n".join(r.getMessage() for r in errors)


def _clean_log(server: SyncServer) -> None:
    log = server.log()
    assert "Traceback" not in log and " ERROR " not in log, log


def test_live_queries_sqlite(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with live_server(tmp_path / "db.sqlite3", APP / "backend") as server:
        lines = run_script(tmp_path, "sync.mjs", "live", server.url, server.url)
    assert lines[:-1] == LIVE_CHECKS
    _no_server_errors(caplog)


@pytest.mark.postgres
def test_live_queries_postgres_two_processes(pg_url: str, tmp_path: Path) -> None:
    # Client A (and C, D) on one process, B (and E) on the other: every write made through
    # one process must reach the other's subscribers (LISTEN/NOTIFY fanout).
    with sync_servers(pg_url, tmp_path, count=2) as (a, b):
        lines = run_script(tmp_path, "sync.mjs", "live", a.url, b.url)
    assert lines[:-1] == LIVE_CHECKS
    _clean_log(a)
    _clean_log(b)


RECONNECT_CHECKS = [
    "ok setup: a live list and two loaded pages",
    "ok a dropped socket: the unresolved mutation is resent and runs once",
    "@@ stop",
    "@@ start",
    "ok a restarted server: reconnect, re-subscribe with journals, resent mutations run once",
    "ok after the restart, pages keep their boundaries: nothing lost or duplicated",
]


def test_reconnect(database_url: str, tmp_path: Path) -> None:
    # SQLite: the server crashes (SIGKILL); PostgreSQL: it shuts down gracefully (SIGTERM,
    # uvicorn closes the sockets with 1012). Either way the client must recover by itself.
    graceful = not database_url.endswith(".sqlite3")
    with sync_servers(database_url, tmp_path) as (server,):
        commands = {"stop": server.stop if graceful else server.kill, "start": server.start}
        lines = run_script(tmp_path, "sync.mjs", "reconnect", server.url, commands=commands)
    assert lines[:-1] == RECONNECT_CHECKS
    _clean_log(server)


PAGINATED_CHECKS = [
    "ok first page",
    "ok loadMore loads the second page after the first",
    "ok an insert inside page 1 while two pages are loaded: nothing lost or duplicated",
    "ok a removal inside a page: it shrinks in place, nothing shifts",
    "ok loadMore until Exhausted: every item exactly once",
    "ok an item added after the end shows on the last page; still Exhausted",
]


def test_paginated_query_react(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with live_server(tmp_path / "db.sqlite3", APP / "backend") as server:
        lines = run_script(tmp_path, "paginated.mjs", server.url)
    assert lines[:-1] == PAGINATED_CHECKS
    _no_server_errors(caplog)
