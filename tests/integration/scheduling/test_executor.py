"""The executor in the background, on real time: wake-ups, timers, leases, several executors.

Each test starts runtimes on one database (SQLite file or PostgreSQL schema) with executors
whose safety-net polling is far too slow to matter, so anything that runs promptly was woken
by a commit, a notification or a timer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mainspring.clock import SystemClock
from mainspring.db import open_database
from mainspring.lease.options import LeaseOptions
from mainspring.registry import load_app
from mainspring.runtime import Runtime
from mainspring.scheduling.claims import JobStore
from mainspring.scheduling.executor import Executor
from mainspring.scheduling.jobs import DIED_ERROR
from tests.support.paths import APPS

APP = APPS / "scheduler_app" / "backend"
SLOW_POLL = LeaseOptions(poll_ms=60_000, lease_ms=1_000)


class Deployment:
    """Runtimes over one database, as separate processes would have them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.app = load_app(APP)
        self.runtimes: list[Runtime] = []

    async def runtime(self, options: LeaseOptions | None = None) -> tuple[Runtime, Executor]:
        runtime = Runtime(self.app, open_database(self.url), SystemClock())
        executor = Executor(runtime, options or SLOW_POLL)
        if options is not None:
            runtime.add_service(executor)
        await runtime.start()
        self.runtimes.append(runtime)
        return runtime, executor

    async def close(self) -> None:
        for runtime in reversed(self.runtimes):
            await runtime.stop()


@pytest.fixture
async def deployment(database_url: str) -> AsyncIterator[Deployment]:
    d = Deployment(database_url)
    yield d
    await d.close()


async def eventually(check: Callable[[], Any], within: float = 10.0) -> Any:
    """Poll ``check`` (async) until it returns something truthy, for ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.01)


async def states(runtime: Runtime) -> dict[str, str]:
    rows = await runtime.call("jobs:all_scheduled", {})
    return {row["_id"]: row["state"]["kind"] for row in rows}


async def test_due_work_runs_at_once_after_its_commit(deployment: Deployment) -> None:
    runtime, _ = await deployment.runtime(SLOW_POLL)
    started = time.monotonic()
    job = await runtime.call("jobs:schedule", {"function": "jobs:record", "args": {"tag": "x"}})
    assert await eventually(lambda: _state_is(runtime, job, "success"), 5)
    assert time.monotonic() - started < 2  # woken by the commit, not by the 60 s poll


async def test_a_timer_runs_future_work_on_time(deployment: Deployment) -> None:
    runtime, _ = await deployment.runtime(SLOW_POLL)
    when = time.time() * 1000 + 400
    job = await runtime.call(
        "jobs:schedule_at", {"function": "jobs:record", "args": {"tag": "t"}, "when": when}
    )
    assert await eventually(lambda: _state_is(runtime, job, "success"), 5)
    row = await runtime.call("jobs:scheduled", {"id": job})
    assert when <= row["completedTime"] < when + 1500


async def test_another_process_commit_wakes_the_executor(deployment: Deployment) -> None:
    worker, _ = await deployment.runtime(SLOW_POLL)
    client, _ = await deployment.runtime(None)  # schedules, runs nothing
    await asyncio.sleep(0.2)  # let the worker go idle on its (slow) timer
    started = time.monotonic()
    job = await client.call("jobs:schedule", {"function": "jobs:act", "args": {"tag": "n"}})
    # PostgreSQL: LISTEN/NOTIFY; SQLite: the other connection's commit changes data_version.
    assert await eventually(lambda: _state_is(worker, job, "success"), 5)
    assert time.monotonic() - started < 2


async def test_a_dead_processs_action_fails_and_its_mutation_runs_elsewhere(
    deployment: Deployment,
) -> None:
    runtime, _ = await deployment.runtime(None)
    [counter] = await runtime.call("jobs:make_counters", {"names": ["c"]})
    action = await runtime.call("jobs:schedule", {"function": "jobs:act", "args": {"tag": "a"}})
    mutation = await runtime.call(
        "jobs:schedule", {"function": "jobs:bump", "args": {"counter": counter}}
    )
    dead = JobStore(runtime, "a process that is about to die", lease_ms=300)
    assert len((await dead.claim(10)).runs) == 2  # then it dies without a word
    assert set((await states(runtime)).values()) == {"inProgress"}
    survivor, _ = await deployment.runtime(LeaseOptions(poll_ms=200, lease_ms=400))
    assert await eventually(lambda: _state_is(survivor, mutation, "success"), 10)
    assert await eventually(lambda: _state_is(survivor, action, "failed"), 10)
    row = await survivor.call("jobs:scheduled", {"id": action})
    assert row["state"]["error"] == DIED_ERROR
    assert await survivor.call("jobs:runs", {"tag": "a"}) == []  # at most once: never re-run
    assert await survivor.call("jobs:counter_values", {}) == [1]  # exactly once


async def test_long_actions_keep_their_lease(deployment: Deployment) -> None:
    runtime, _ = await deployment.runtime(LeaseOptions(poll_ms=200, lease_ms=300))
    job = await runtime.call(
        "jobs:schedule", {"function": "jobs:sleepy", "args": {"tag": "s", "ms": 1200}}
    )
    assert await eventually(lambda: _state_is(runtime, job, "success"), 10)
    assert len(await runtime.call("jobs:runs", {"tag": "s"})) == 1


async def test_stop_waits_for_running_work_then_settles_it(deployment: Deployment) -> None:
    runtime, executor = await deployment.runtime(
        LeaseOptions(poll_ms=60_000, shutdown_grace_ms=200)
    )
    quick = await runtime.call(
        "jobs:schedule", {"function": "jobs:sleepy", "args": {"tag": "q", "ms": 50}}
    )
    slow = await runtime.call(
        "jobs:schedule", {"function": "jobs:sleepy", "args": {"tag": "s", "ms": 5000}}
    )
    assert await eventually(lambda: _state_is(runtime, slow, "inProgress"), 5)
    await executor.stop()
    final = await states(runtime)
    assert final[quick] == "success"
    assert final[slow] == "failed"


async def test_stop_settles_what_a_claim_in_flight_committed(deployment: Deployment) -> None:
    runtime, executor = await deployment.runtime(
        LeaseOptions(poll_ms=60_000, shutdown_grace_ms=100)
    )
    claimed, gate = asyncio.Event(), asyncio.Event()

    def held(claim: Callable[..., Any]) -> Callable[..., Any]:
        async def claim_then_wait(*args: Any) -> Any:
            result = await claim(*args)  # committed: the rows are inProgress under our lease
            if result.runs or result.ran:
                claimed.set()
                await gate.wait()
            return result

        return claim_then_wait

    # The window between a claim's commit and the start of its rows, held open.
    executor.jobs.claim = held(executor.jobs.claim)  # type: ignore[method-assign]
    job = await runtime.call(
        "jobs:schedule", {"function": "jobs:sleepy", "args": {"tag": "s", "ms": 5000}}
    )
    await asyncio.wait_for(claimed.wait(), 5)
    stopping = asyncio.create_task(executor.stop())
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.wait_for(stopping, 20)
    assert (await states(runtime))[job] == "failed"  # settled by stop, not left inProgress


async def test_several_executors_run_each_mutation_exactly_once(deployment: Deployment) -> None:
    options = LeaseOptions(poll_ms=100, concurrency=8)
    first, _ = await deployment.runtime(options)
    for _ in range(2):
        await deployment.runtime(options)
    counters = await first.call("jobs:make_counters", {"names": [str(i) for i in range(300)]})
    args = [{"counter": c} for c in counters]
    await first.call("jobs:schedule_many", {"function": "jobs:bump", "args": args})
    tags = [{"tag": str(i)} for i in range(100)]
    await first.call("jobs:schedule_many", {"function": "jobs:act", "args": tags})

    async def done() -> bool:
        return set((await states(first)).values()) == {"success"}

    assert await eventually(done, 60)
    assert await first.call("jobs:counter_values", {}) == [1] * 300
    runs = [r["tag"] for r in await first.call("jobs:runs", {})]
    assert sorted(runs) == sorted(str(i) for i in range(100))


async def test_due_mutations_share_a_commit_and_a_failure_stays_its_own(
    deployment: Deployment,
) -> None:
    runtime, executor = await deployment.runtime()
    tags = [{"tag": str(i)} for i in range(8)]
    await runtime.call("jobs:schedule_many", {"function": "jobs:record", "args": tags})
    write_transactions = 0
    database = runtime.database
    opened = database.transaction, database.claim_transaction

    def counting(open_one: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            nonlocal write_transactions
            write_transactions += kwargs.get("write", True)
            return open_one(*args, **kwargs)

        return wrapped

    database.transaction, database.claim_transaction = map(counting, opened)  # type: ignore[method-assign]
    assert await executor.run_due() == 8
    # The claim, then (where claims are not serializable) one transaction for all eight.
    assert 1 <= write_transactions <= 2
    assert set((await states(runtime)).values()) == {"success"}

    # One of a batch fails: it alone is failed (its write rolled back), the rest commit.
    more = [{"tag": f"more {i}"} for i in range(4)]
    await runtime.call("jobs:schedule_many", {"function": "jobs:record", "args": more})
    bad = {"function": "jobs:record_then_fail", "args": {"tag": "bad", "message": "no"}}
    failing = await runtime.call("jobs:schedule", bad)
    assert await executor.run_due() == 5
    rows = {row["_id"]: row for row in await runtime.call("jobs:all_scheduled", {})}
    assert rows[failing]["state"] == {"kind": "failed", "error": "no"}
    assert [r["state"]["kind"] for i, r in rows.items() if i != failing] == ["success"] * 12
    recorded = sorted(r["tag"] for r in await runtime.call("jobs:runs", {}))
    assert recorded == sorted([str(i) for i in range(8)] + [f"more {i}" for i in range(4)])


async def _state_is(runtime: Runtime, job: str, kind: str) -> bool:
    row = await runtime.call("jobs:scheduled", {"id": job})
    return row is not None and row["state"]["kind"] == kind
