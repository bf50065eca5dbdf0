"""``mainspring serve`` / ``mainspring dev`` as real subprocesses, for end-to-end tests.

Each server runs in its own session (process group), so teardown can stop the CLI process,
uvicorn's reloader or worker processes and anything they spawned, by that group's id.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def mainspring_env(**settings: str) -> dict[str, str]:
    """This process's environment without any MAINSPRING_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAINSPRING_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mainspring ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "mainspring", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """A running server subprocess."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")


def _wait_ready(server: ServerProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited early:\n{server.log()}")
        try:
            if httpx.get(server.url + "/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server was not ready after {timeout}s:\n{server.log()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    group = process.pid  # start_new_session: the group id is the leader's pid
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break  # the whole group is gone
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure no worker outlives it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        break


@contextmanager
def start_server(
    command: str,
    app: Path,
    env: dict[str, str],
    log_path: Path,
    *args: str,
    timeout: float = 60,
) -> Iterator[ServerProcess]:
    """Start ``mainspring COMMAND --app APP`` on a free port; stop it when the block ends."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mainspring",
                command,
                "--app",
                str(app),
                "--port",
                str(port),
                *args,
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_ready(server, timeout)
        yield server
    finally:
        _stop(process)
