"""A real uvicorn server on a free loopback port, in a background thread, for HTTP tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from mainspring.clock import Clock
from mainspring.db import open_database
from mainspring.registry import load_app
from mainspring.runtime import Runtime
from mainspring.server import create_app
from mainspring.storage.base import BlobStore
from tests.support.paths import APPS

BACKEND = APPS / "http_api_backend"


@dataclass
class LiveServer:
    """A running server: its base URL and its runtime (for the admin key)."""

    url: str
    runtime: Runtime

    @property
    def admin_key(self) -> str:
        assert self.runtime.admin_key is not None
        return self.runtime.admin_key


@contextmanager
def live_server(
    database: Path | str,
    app_dir: Path = BACKEND,
    *,
    clock: Clock | None = None,
    blob_store: BlobStore | None = None,
    max_upload_bytes: int | None = None,
) -> Iterator[LiveServer]:
    """Serve ``app_dir`` over ``database`` until the block ends (file URLs name its port)."""
    # Bind first so the port is ours before uvicorn starts (no free-port race).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    runtime = Runtime(
        load_app(app_dir),
        open_database(database),
        clock,
        blob_store=blob_store,
        site_url=f"http://127.0.0.1:{port}",
        max_upload_bytes=max_upload_bytes,
    )
    # log_config=None: leave the test process's logging (and pytest's caplog) alone.
    config = uvicorn.Config(create_app(runtime), log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start (see the log above)")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", runtime)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"
