"""The official ``convex`` npm package's ConvexHttpClient against a real Mainspring server.

``tests/js/http_client/client.mjs`` makes the calls and checks the results; this test installs its
dependencies when they are missing (``npm ci``), serves the test app under uvicorn and runs
the script. Needs ``node`` and ``npm``: without them the test fails, it does not skip.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.live_server import live_server
from tests.support.node_packages import node_tool, npm_ci
from tests.support.paths import JS

NODE_DIR = JS / "http_client"
SCRIPT = NODE_DIR / "client.mjs"

pytestmark = pytest.mark.node


_PURPOSE = "the Convex JS client test"


def _tool(name: str) -> str:
    return node_tool(name, _PURPOSE)


def _install_node_modules() -> None:
    npm_ci(NODE_DIR, NODE_DIR / "node_modules" / "convex" / "package.json", _PURPOSE)


def test_convex_http_client_against_mainspring(tmp_path: Path) -> None:
    node = _tool("node")
    _install_node_modules()
    with live_server(tmp_path / "db.sqlite3") as server:
        result = subprocess.run(
            [node, str(SCRIPT), server.url, server.admin_key],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = result.stdout.strip().splitlines()
    assert not [line for line in lines if line.startswith("FAIL")], output
    checks = [line for line in lines if line.startswith("ok ")]
    # The script's own count must match what it printed, and cover every area.
    assert lines[-1] == f"all {len(checks)} checks passed", output
    for name in (
        "ok bigint argument and bigint result",
        "ok ConvexError with structured data",
        "ok admin auth reaches internal functions",
        "ok mutation returns an id; its log lines reach the logger",
        "ok action",
    ):
        assert name in lines, output
