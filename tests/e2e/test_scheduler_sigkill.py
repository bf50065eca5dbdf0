"""`mainspring worker` processes killed with SIGKILL at random while jobs run (PostgreSQL).

Every scheduled mutation bumps a counter of its own: each must end at exactly 1 (none lost,
none run twice). Every scheduled action must end ``success`` (and then have run exactly once)
or ``failed`` because its process died (and then have run at most once).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from mainspring.clock import SystemClock
from mainspring.db import open_database
from mainspring.registry import load_app
from mainspring.runtime import Runtime
from mainspring.scheduling.jobs import DIED_ERROR
from tests.support.paths import APPS

APP_DIR = APPS / "scheduler_app"
MUTATIONS = 1200
ACTIONS = 400
WORKERS = 3

pytestmark = pytest.mark.postgres


def _start_worker(url: str, tmp: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MAINSPRING_STORAGE_DIR": str(tmp / "storage"),
        "MAINSPRING_LOG_LEVEL": "warning",
    }
    command = [
        sys.executable, "-m", "mainspring", "worker",
        "--app", str(APP_DIR), "--db", url,
        "--scheduler-lease", "1s", "--scheduler-poll", "250ms",
        "--scheduler-concurrency", "16",
    ]  # fmt: skip
    with open(tmp / "workers.log", "ab") as log:  # the worker writes to its own copy
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)


async def test_killed_workers_lose_nothing_and_run_nothing_twice(
    pg_url: str, tmp_path: Path
) -> None:
    runtime = Runtime(load_app(APP_DIR / "backend"), open_database(pg_url), SystemClock())
    await runtime.start()
    workers = [_start_worker(pg_url, tmp_path) for _ in range(WORKERS)]
    rng = random.Random(4)
    kills = 0
    try:
        names = [f"c{i}" for i in range(MUTATIONS)]
        counters = await runtime.call("jobs:make_counters", {"names": names})
        for start in range(0, MUTATIONS, 400):  # scheduled in waves while workers run
            batch = [{"counter": c} for c in counters[start : start + 400]]
            await runtime.call("jobs:schedule_many", {"function": "jobs:bump", "args": batch})
            sleepy = [
                {"tag": f"a{start + i}", "ms": rng.uniform(5, 150)} for i in range(ACTIONS // 3)
            ]
            await runtime.call("jobs:schedule_many", {"function": "jobs:sleepy", "args": sleepy})
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            rows = await runtime.call("jobs:all_scheduled", {})
            if all(r["state"]["kind"] in ("success", "failed") for r in rows):
                break
            await asyncio.sleep(rng.uniform(0.3, 0.8))
            if kills < 8:  # kill one at random and start a replacement
                victim = workers.pop(rng.randrange(len(workers)))
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                kills += 1
                workers.append(_start_worker(pg_url, tmp_path))
        else:
            pytest.fail(
                "the jobs did not finish in 90 s:\n" + (tmp_path / "workers.log").read_text()
            )
        assert kills >= 3
        assert await runtime.call("jobs:counter_values", {}) == [1] * MUTATIONS
        states = Counter(
            (r["name"], r["state"]["kind"]) for r in await runtime.call("jobs:all_scheduled", {})
        )
        print(dict(states), "kills", kills)
        assert states[("jobs:bump", "success")] == MUTATIONS
        runs = Counter(r["tag"] for r in await runtime.call("jobs:runs", {}))
        assert max(runs.values()) == 1  # no action ran twice
        for row in await runtime.call("jobs:all_scheduled", {}):
            if row["name"] != "jobs:sleepy":
                continue
            tag = row["args"][0]["tag"]
            if row["state"]["kind"] == "success":
                assert runs[tag] == 1
            else:
                assert row["state"] == {"kind": "failed", "error": DIED_ERROR}
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        await runtime.stop()
