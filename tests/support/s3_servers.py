"""Real S3-speaking servers on loopback, for tests of the S3 blob store (a pytest plugin).

Load it with ``pytest_plugins = ["tests.support.s3_servers"]`` in a test module. Two servers,
each started once per session on a free port, each test getting a fresh bucket:

* ``moto_server`` — ``python -m moto.server`` (the ``moto[server]`` package). Lenient: it
  accepts any credentials and does not check signatures or the expiry of presigned URLs, but it
  implements ListMultipartUploads and AbortMultipartUpload.
* ``s3rver_server`` — s3rver from npm (``tests/js/s3rver``: ``@20minutes/s3rver``, the maintained
  fork; the original ``s3rver`` package never released its SigV4 check and accepts any SigV4
  signature). It verifies SigV4 signatures, signed headers (``Content-Type``,
  ``Content-Length``) and the expiry of presigned URLs, knows only the access key ``S3RVER``
  (secret ``S3RVER``), and lacks ListMultipartUploads and AbortMultipartUpload.

Without Node.js, npm or moto the fixtures fail with a message saying what to install; they
never skip. ``npm ci`` runs in ``tests/js/s3rver`` when its ``node_modules`` is missing.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from mainspring.storage.s3 import S3BlobStore
from tests.support.node_packages import node_tool, npm_ci
from tests.support.paths import JS

S3RVER_DIR = JS / "s3rver"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class S3Server:
    """One running server and what it can do."""

    name: str
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    lists_uploads: bool  # has ListMultipartUploads and AbortMultipartUpload

    def client(self) -> Any:
        """A plain boto3 client, to look at the bucket behind the store's back."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )

    def new_bucket(self) -> str:
        """Create an empty bucket with a fresh name."""
        name = f"t-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def store(self, bucket: str, **options: Any) -> S3BlobStore:
        """An S3BlobStore on ``bucket`` of this server."""
        return S3BlobStore(
            bucket,
            endpoint_url=self.endpoint_url,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            **options,
        )


def _wait_for(log: Path, pattern: str, process: subprocess.Popen[bytes], what: str) -> str:
    """The first match of ``pattern`` in ``log`` once ``process`` writes it; fail otherwise."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if match := re.search(pattern, text):
            return match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    text = log.read_text(errors="replace") if log.exists() else ""
    pytest.fail(f"{what} did not start (exit code {process.poll()}):\n{text}", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """``python -m moto.server`` on a free loopback port."""
    try:
        import moto.server  # noqa: F401 - only checks that it is installed
    except ImportError:
        pytest.fail("moto[server] is required: pip install -e '.[dev]'", pytrace=False)
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        # Port 0: the server picks a free port and prints it, so there is no race for one.
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        port = _wait_for(log, r"Running on http://127\.0\.0\.1:(\d+)", process, "moto server")
        yield S3Server("moto", f"http://127.0.0.1:{port}", "testing", "testing", lists_uploads=True)
    finally:
        _stop(process)


_PURPOSE = "the s3rver tests"


def _tool(name: str) -> str:
    return node_tool(name, _PURPOSE)


def _npm_ci() -> None:
    npm_ci(S3RVER_DIR, S3RVER_DIR / "node_modules" / "@20minutes" / "s3rver", _PURPOSE)


@pytest.fixture(scope="session")
def s3rver_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """s3rver (``tests/s3rver/server.js``) on a free loopback port, its data in a temp dir."""
    _npm_ci()
    root = tmp_path_factory.mktemp("s3rver")
    log = root / "server.log"
    with open(log, "wb") as out:
        # stdin stays open: server.js exits when it closes, even if this process is killed.
        process = subprocess.Popen(
            [_tool("node"), str(S3RVER_DIR / "server.js"), str(root / "data"), "mainspring"],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        port = _wait_for(log, r'\{"port":(\d+)\}', process, "s3rver")
        yield S3Server(
            "s3rver", f"http://127.0.0.1:{port}", "S3RVER", "S3RVER", lists_uploads=False
        )
    finally:
        assert process.stdin is not None
        process.stdin.close()
        _stop(process)


@pytest.fixture
def s3_server_factory(request: pytest.FixtureRequest) -> Callable[[str], S3Server]:
    """``factory("moto" | "s3rver")``: the running server, started on first use."""

    def factory(name: str) -> S3Server:
        server: S3Server = request.getfixturevalue(f"{name}_server")
        return server

    return factory
