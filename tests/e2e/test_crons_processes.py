"""Several `mainspring worker` processes on one PostgreSQL database fire each tick once.

Three workers all wake for every tick of a one-second cron; each tick must leave exactly
one ``_cron_runs`` row, one scheduled function and one execution — and no tick is lost.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mainspring.clock import SystemClock
from mainspring.db import open_database
from mainspring.registry import load_app
from mainspring.runtime import Runtime
from tests.support.paths import APPS

APP = APPS / "cron_app" / "backend"
WORKERS = 3
SECONDS = 8

pytestmark = pytest.mark.postgres


def _start_worker(url: str, tmp: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CRON_APP_EVERY_SECOND": "1",
        "MAINSPRING_STORAGE_DIR": str(tmp / "storage"),
        "MAINSPRING_LOG_LEVEL": "info",
    }
    command = [sys.executable, "-m", "mainspring", "worker", "--app", str(APP.parent), "--db", url]
    with open(tmp / "workers.log", "ab") as log:  # the worker writes to its own copy
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)


async def _first_firing(url: str, monkeypatch: pytest.MonkeyPatch, limit_s: float = 60) -> None:
    monkeypatch.setenv("CRON_APP_EVERY_SECOND", "1")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while loop.time() < deadline:
        runtime = Runtime(load_app(APP), open_database(url), SystemClock())
        try:
            await runtime.start()
            if await runtime.call("ticks:runs", {"cron": "every second"}):
                return
        except Exception:  # the workers are still creating the tables
            pass
        finally:
            await runtime.stop()
        await asyncio.sleep(0.2)
    pytest.fail(f"no cron fired within {limit_s} s of starting the workers")


async def test_three_workers_fire_each_tick_once(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = [_start_worker(pg_url, tmp_path) for _ in range(WORKERS)]
    try:
        # Counted from the first firing: on a loaded machine the workers take seconds to
        # start, and that is not what this test measures.
        await _first_firing(pg_url, monkeypatch)
        await asyncio.sleep(SECONDS)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
    log = (tmp_path / "workers.log").read_text()
    assert all(worker.returncode == 0 for worker in workers), log
    monkeypatch.setenv("CRON_APP_EVERY_SECOND", "1")
    runtime = Runtime(load_app(APP), open_database(pg_url), SystemClock())
    await runtime.start()
    try:
        runs = await runtime.call("ticks:runs", {"cron": "every second"})
        executions = await runtime.call("ticks:count", {"cron": "every second"})
        async with runtime.read_snapshot() as reader:
            jobs = await reader.system.query("_scheduled_functions").collect()
    finally:
        await runtime.stop()
    ticks = [run["tick"] for run in runs]
    assert len(ticks) >= SECONDS - 4, log  # the workers fired for most of the time
    assert Counter(ticks).most_common(1)[0][1] == 1  # no tick decided twice
    assert ticks == [ticks[0] + 1000 * k for k in range(len(ticks))]  # and none lost
    fired = [run for run in runs if run["state"] != "skipped"]
    assert len(fired) == len(runs)  # nothing ran long enough to make a tick skip
    assert {run["state"] for run in fired} <= {"success", "scheduled", "running"}
    finished = sum(1 for run in fired if run["state"] == "success")
    assert executions >= finished
    assert executions == sum(
        1
        for job in jobs
        if job.get("cron", {}).get("name") == "every second" and job["state"]["kind"] == "success"
    )
    assert sorted(j["scheduledTime"] for j in jobs if j.get("cron")) == ticks
