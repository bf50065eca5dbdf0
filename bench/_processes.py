"""Server processes for the benchmarks: a free port, waiting until one listens, stopping it,
the CPU time it used."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(
    proc: subprocess.Popen[Any],
    port: int,
    what: str,
    *,
    timeout: float = 30,
    log: Path | None = None,
) -> None:
    """Return once ``proc`` accepts connections on ``port``; SystemExit (with ``log``'s text)
    if it exits first or takes longer than ``timeout`` seconds."""
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            output = f":\n{log.read_text()}" if log is not None else ""
            raise SystemExit(f"{what} exited with {proc.returncode}{output}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.time() > deadline:
                proc.kill()
                raise SystemExit(f"{what} did not start listening on {port}") from None
            time.sleep(0.1)


def stop(proc: subprocess.Popen[Any], timeout: float = 30) -> None:
    """SIGTERM ``proc``, then SIGKILL it if it has not exited within ``timeout`` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from ``/proc`` (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S
