"""Issue 8's browser test: the seeds' FileUpload and FileList in headless Chromium.

``tests/js/browser/`` holds a small React page built with Vite from the seeds' two components
(only where ``api`` comes from changed: the ``api.js`` that ``mainspring codegen`` writes for
the example app) under ``ConvexProvider``, signed in with ``client.setAuth`` and a token the
example app trusts. This test serves the example app under uvicorn, builds the page into a
temporary folder, serves it from another loopback port (so every API call, the sync socket and
the upload are cross-origin, as for a real front end) and runs ``tests/js/browser/drive.mjs``: a
PNG and a text file uploaded in one page appear in a second page without a reload, and
disappear from both when deleted.

Needs ``node``, ``npm`` and Chromium (Debian's ``chromium``; ``MAINSPRING_TEST_CHROMIUM``
names another binary): without them the test fails, it does not skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest

from mainspring.codegen import generate, write_files
from mainspring.registry import load_app
from tests.support.live_server import live_server
from tests.support.node_packages import node_tool, npm_ci
from tests.support.paths import EXAMPLE_APP, JS

BROWSER_DIR = JS / "browser"
EXAMPLE_BACKEND = EXAMPLE_APP / "backend"

pytestmark = [pytest.mark.node, pytest.mark.browser]

_PURPOSE = "the browser test of the seeds' file components"


def _chromium() -> str:
    configured = os.environ.get("MAINSPRING_TEST_CHROMIUM")
    path = configured or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None or not Path(path).exists():
        pytest.fail(
            f"Chromium is not installed ({configured or 'no chromium on PATH'}); {_PURPOSE} "
            "needs it: apt-get install chromium",
            pytrace=False,
        )
    return path


def _example_token() -> str:
    """A token for user ``ada`` that the example app's auth config accepts."""
    # Read by path: putting the functions folder on sys.path would let its http.py shadow
    # the standard library's http package.
    spec = importlib.util.spec_from_file_location("example_app_auth", EXAMPLE_BACKEND / "auth.py")
    assert spec is not None and spec.loader is not None
    auth: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(auth)
    claims = {"iss": auth.ISSUER, "aud": auth.AUDIENCE, "sub": "ada", "exp": time.time() + 600}
    return jwt.encode(claims, auth.SECRET, algorithm="HS256")


def _run(command: list[str], *, env: dict[str, str] | None = None, timeout: float) -> str:
    result = subprocess.run(
        command,
        cwd=BROWSER_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} failed ({result.returncode}):\n{output}"
    return output


def _build_page(node: str, out: Path) -> Path:
    """Codegen the example app's ``api``, then build the page with Vite; the built folder."""
    generated = out / "generated"
    write_files(generated, generate(load_app(EXAMPLE_BACKEND)).files)
    dist = out / "dist"
    vite = str(BROWSER_DIR / "node_modules" / "vite" / "bin" / "vite.js")
    env = {**os.environ, "MAINSPRING_GENERATED_DIR": str(generated)}
    _run([node, vite, "build", "--outDir", str(dist), "--emptyOutDir"], env=env, timeout=120)
    assert (dist / "index.html").is_file()
    return dist


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _static_server(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on a free loopback port; its base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=directory))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_seed_file_components_upload_sync_and_delete_in_chromium(tmp_path: Path) -> None:
    chromium = _chromium()
    node = node_tool("node", _PURPOSE)
    npm_ci(BROWSER_DIR, BROWSER_DIR / "node_modules" / ".package-lock.json", _PURPOSE)
    dist = _build_page(node, tmp_path / "page")
    with (
        live_server(tmp_path / "db.sqlite3", EXAMPLE_BACKEND) as api,
        _static_server(dist) as site,
    ):
        page_url = f"{site}/?{urlencode({'deployment': api.url, 'token': _example_token()})}"
        artifacts = tmp_path / "artifacts"
        result = subprocess.run(
            [node, str(BROWSER_DIR / "drive.mjs"), chromium, page_url, api.url, str(artifacts)],
            cwd=BROWSER_DIR,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"screenshots in {artifacts}\n{output}"
    lines = result.stdout.strip().splitlines()
    checks = [line for line in lines if line.startswith("ok ")]
    assert lines[-1] == f"all {len(checks)} checks passed", output
    for name in (
        "ok the uploaded PNG shows as a loaded <img> (48x32) in both pages",
        "ok the text file shows as a download link in both pages and serves its bytes",
        "ok the deleted PNG disappears from both pages",
        "ok the deleted text file disappears from both pages",
        "ok the watcher page was never reloaded, no page threw, no socket was dropped",
    ):
        assert name in lines, output
