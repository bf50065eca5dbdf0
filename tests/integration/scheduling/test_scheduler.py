"""Scheduled functions: the semantics of ``ctx.scheduler``, on SQLite and PostgreSQL.

Run through the test harness (virtual time, nothing in the background): rows, states,
errors at the call, transactions, cancel, identity, chains, the harness's own methods.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from mainspring import (
    AppError,
    FunctionNotFoundError,
    NotAllowedError,
    ValidationError,
    action,
    mutation,
)
from mainspring.scheduling.harness import EndlessSchedulingError
from mainspring.testing import TestApp
from tests.support.paths import APPS

APP = APPS / "scheduler_app" / "backend"
START = 1_700_000_000_000.0


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[TestApp]:
    async with TestApp(APP, database=database_url, start_ms=START) as t:
        yield t


async def test_run_after_writes_a_pending_row_and_runs_it_once(app: TestApp) -> None:
    job = await app.mutation("jobs:schedule", {"function": "jobs:record", "args": {"tag": "a"}})
    row = await app.query("jobs:scheduled", {"id": job})
    assert row == {
        "_id": job,
        "_creationTime": row["_creationTime"],
        "name": "jobs:record",
        "args": [{"tag": "a"}],
        "scheduledTime": START,
        "state": {"kind": "pending"},
    }
    assert await app.query("jobs:runs") == []  # nothing runs until the test says so
    assert await app.finish_in_progress_scheduled() == 1
    row = await app.query("jobs:scheduled", {"id": job})
    assert row["state"] == {"kind": "success"} and row["completedTime"] == START
    assert "lease" not in row
    assert [r["tag"] for r in await app.query("jobs:runs")] == ["a"]
    assert await app.finish_in_progress_scheduled() == 0


async def test_delays_and_times_in_every_form(app: TestApp) -> None:
    import backend.jobs as jobs

    @mutation
    async def forms(ctx: object) -> list[str]:
        s = ctx.scheduler  # type: ignore[attr-defined]
        return [
            await s.run_after(1500, jobs.record, {"tag": "ms"}),
            await s.run_after(timedelta(seconds=2), jobs.record, {"tag": "timedelta"}),
            await s.run_at(START + 3000, jobs.record, {"tag": "epoch ms"}),
            await s.run_at(
                datetime.fromtimestamp((START + 4000) / 1000, UTC), jobs.record, {"tag": "datetime"}
            ),
            await s.run_at(START - 60_000, jobs.record, {"tag": "past"}),
        ]

    app.runtime.registry.add("extra:forms", forms)
    ids = await app.mutation("extra:forms")
    times = [(await app.query("jobs:scheduled", {"id": i}))["scheduledTime"] for i in ids]
    assert times == [START + 1500, START + 2000, START + 3000, START + 4000, START - 60_000]
    assert await app.finish_in_progress_scheduled() == 1  # the past one: as soon as possible
    assert [r["tag"] for r in await app.query("jobs:runs")] == ["past"]
    assert await app.advance_time(2000) == 2
    assert app.clock.now_ms() == START + 2000
    await app.advance_time(5000)
    assert [r["tag"] for r in await app.query("jobs:runs")] == [
        "past",
        "ms",
        "timedelta",
        "epoch ms",
        "datetime",
    ]


@pytest.mark.parametrize(
    ("delay", "message"),
    [
        (-1, "must not be negative"),
        (math.nan, "finite"),
        (math.inf, "finite"),
        ("soon", "number of milliseconds"),
    ],
)
async def test_bad_delays_are_errors_at_the_call(app: TestApp, delay: object, message: str) -> None:
    import backend.jobs as jobs

    @mutation
    async def bad(ctx: object) -> None:
        await ctx.scheduler.run_after(delay, jobs.record, {"tag": "x"})  # type: ignore[attr-defined]

    app.runtime.registry.add("extra:bad", bad)
    with pytest.raises(ValidationError, match=message):
        await app.mutation("extra:bad")
    assert await app.query("jobs:all_scheduled") == []


async def test_naive_datetimes_and_non_finite_times_are_refused(app: TestApp) -> None:
    import backend.jobs as jobs

    @mutation
    async def naive(ctx: object) -> None:
        await ctx.scheduler.run_at(datetime(2030, 1, 1), jobs.record, {"tag": "x"})  # type: ignore[attr-defined]

    @mutation
    async def infinite(ctx: object) -> None:
        await ctx.scheduler.run_at(math.inf, jobs.record, {"tag": "x"})  # type: ignore[attr-defined]

    app.runtime.registry.add("extra:naive", naive)
    app.runtime.registry.add("extra:infinite", infinite)
    with pytest.raises(ValidationError, match="aware datetime"):
        await app.mutation("extra:naive")
    with pytest.raises(ValidationError, match="finite"):
        await app.mutation("extra:infinite")


async def test_functions_and_arguments_are_checked_at_the_call(app: TestApp) -> None:
    schedule = "jobs:schedule"
    with pytest.raises(NotAllowedError, match="is a query"):
        await app.mutation(schedule, {"function": "jobs:query_fn", "args": {}})
    with pytest.raises(FunctionNotFoundError, match="no function at 'jobs:nope'"):
        await app.mutation(schedule, {"function": "jobs:nope", "args": {}})
    with pytest.raises(ValidationError, match="jobs:record: invalid arguments"):
        await app.mutation(schedule, {"function": "jobs:record", "args": {"tag": 5}})
    with pytest.raises(ValidationError, match="jobs:bump"):
        await app.mutation(schedule, {"function": "jobs:bump", "args": {"counter": "no-id"}})
    assert await app.query("jobs:all_scheduled") == []


async def test_limits_per_call(app: TestApp) -> None:
    many = [{"tag": str(i)} for i in range(1001)]
    with pytest.raises(ValidationError, match="at most 1000 functions"):
        await app.mutation("jobs:schedule_many", {"function": "jobs:record", "args": many})
    assert await app.query("jobs:all_scheduled") == []
    ids = await app.mutation("jobs:schedule_many", {"function": "jobs:record", "args": many[:1000]})
    assert len(ids) == 1000
    big = [{"tag": "x" * 900_000} for _ in range(19)]  # 17.1 MB in total
    with pytest.raises(ValidationError, match="16 MiB"):
        await app.mutation("jobs:schedule_many", {"function": "jobs:record", "args": big})


async def test_a_failing_mutation_schedules_nothing(app: TestApp) -> None:
    with pytest.raises(AppError, match="changed my mind"):
        await app.mutation("jobs:schedule_then_fail")
    assert await app.query("jobs:all_scheduled") == []


async def test_failures_are_recorded_and_a_failed_mutation_writes_nothing(app: TestApp) -> None:
    failing_mutation = await app.mutation(
        "jobs:schedule",
        {"function": "jobs:record_then_fail", "args": {"tag": "m", "message": "no stock"}},
    )
    failing_action = await app.mutation(
        "jobs:schedule", {"function": "jobs:act_fail", "args": {"message": "boom"}}
    )
    await app.finish_in_progress_scheduled()
    assert (await app.query("jobs:scheduled", {"id": failing_mutation}))["state"] == {
        "kind": "failed",
        "error": "no stock",
    }
    assert (await app.query("jobs:scheduled", {"id": failing_action}))["state"] == {
        "kind": "failed",
        "error": "ValueError: boom",
    }
    assert await app.query("jobs:runs", {"tag": "m"}) == []  # rolled back


async def test_scheduled_functions_run_without_identity(app: TestApp) -> None:
    user = app.with_identity("ada")
    await user.mutation("jobs:schedule", {"function": "jobs:record", "args": {"tag": "m"}})
    await user.mutation("jobs:schedule", {"function": "jobs:act", "args": {"tag": "a"}})
    await app.finish_in_progress_scheduled()
    runs = await app.query("jobs:runs")
    assert sorted(r["tag"] for r in runs) == ["a", "m"]
    assert not any(r["identity"] for r in runs)
    states = {r["name"]: r["state"] for r in await app.query("jobs:all_scheduled")}
    assert states == {"jobs:record": {"kind": "success"}, "jobs:act": {"kind": "success"}}


async def test_cancel_a_pending_function(app: TestApp) -> None:
    job = await app.mutation(
        "jobs:schedule", {"function": "jobs:record", "args": {"tag": "x"}, "delay": 1000}
    )
    await app.mutation("jobs:cancel", {"id": job})
    row = await app.query("jobs:scheduled", {"id": job})
    assert row["state"] == {"kind": "canceled"} and row["completedTime"] == START
    await app.finish_all_scheduled()
    assert await app.query("jobs:runs") == []
    await app.mutation("jobs:cancel", {"id": job})  # finished: no effect, no error
    with pytest.raises(ValidationError, match="not an id of _scheduled_functions"):
        await app.mutation("jobs:cancel", {"id": "nope"})


async def test_cancel_from_an_action_and_scheduling_from_an_action(app: TestApp) -> None:
    job = await app.action("jobs:schedule_from_action", {"tag": "later", "delay": 500})
    assert (await app.query("jobs:scheduled", {"id": job}))["state"] == {"kind": "pending"}

    async def cancel_it(ctx: object) -> None:
        await ctx.scheduler.cancel(job)  # type: ignore[attr-defined]

    canceller = action(cancel_it)
    app.runtime.registry.add("extra:cancel_it", canceller)
    await app.action("extra:cancel_it")
    assert (await app.query("jobs:scheduled", {"id": job}))["state"] == {"kind": "canceled"}
    await app.advance_time(1000)
    assert await app.query("jobs:runs", {"tag": "later"}) == []


async def test_a_canceled_running_action_runs_on_but_its_scheduling_is_canceled(
    app: TestApp,
) -> None:
    import backend.jobs as jobs

    jobs.GATES["g"], jobs.STARTED["g"] = asyncio.Event(), asyncio.Event()
    job = await app.mutation(
        "jobs:schedule", {"function": "jobs:gated", "args": {"tag": "g", "then": "child"}}
    )
    running = asyncio.create_task(app.finish_in_progress_scheduled())
    await asyncio.wait_for(jobs.STARTED["g"].wait(), 10)
    assert (await app.query("jobs:scheduled", {"id": job}))["state"] == {"kind": "inProgress"}
    await app.mutation("jobs:cancel", {"id": job})
    jobs.GATES["g"].set()
    await asyncio.wait_for(running, 10)
    rows = {r["name"]: r for r in await app.query("jobs:all_scheduled")}
    assert rows["jobs:gated"]["state"] == {"kind": "canceled"}  # not overwritten by success
    assert rows["jobs:act"]["state"] == {"kind": "canceled"}  # what it scheduled afterwards
    assert [r["tag"] for r in await app.query("jobs:runs")] == ["g"]  # it did run on
    await app.finish_all_scheduled()
    assert [r["tag"] for r in await app.query("jobs:runs")] == ["g"]


async def test_chains_run_in_order_in_virtual_time(app: TestApp) -> None:
    await app.mutation("jobs:schedule", {"function": "jobs:gated", "args": {"tag": "c1"}})
    import backend.jobs as jobs

    jobs.GATES["c1"] = asyncio.Event()
    jobs.GATES["c1"].set()
    job = await app.action("jobs:schedule_from_action", {"tag": "c2", "delay": 60_000})
    assert await app.finish_all_scheduled() == 2
    assert app.clock.now_ms() == START + 60_000  # time moved to the last function's time
    assert [r["tag"] for r in await app.query("jobs:runs")] == ["c1", "c2"]
    assert (await app.query("jobs:scheduled", {"id": job}))["completedTime"] == START + 60_000


async def test_endless_chains_raise(app: TestApp) -> None:
    await app.mutation("jobs:schedule", {"function": "jobs:forever", "args": {"delay": 1000}})
    with pytest.raises(EndlessSchedulingError):
        await app.finish_all_scheduled(max_iterations=20)
    await app.mutation("jobs:schedule", {"function": "jobs:forever", "args": {"delay": 0}})
    with pytest.raises(EndlessSchedulingError):
        await app.finish_in_progress_scheduled(max_iterations=20)


async def test_finished_rows_are_pruned_after_the_retention_period(app: TestApp) -> None:
    many = [{"tag": str(i)} for i in range(12)]
    await app.mutation("jobs:schedule_many", {"function": "jobs:record", "args": many})
    await app.mutation(
        "jobs:schedule", {"function": "jobs:record", "args": {"tag": "late"}, "delay": 8 * 86400e3}
    )
    await app.finish_in_progress_scheduled()
    executor = app.scheduled.executor
    await app.advance_time(6 * 86400e3)
    assert await executor.prune(batch=5) == 0  # 6 days: kept
    await app.advance_time(86400e3 + 1)
    assert await executor.prune(batch=5) == 12  # three batches of at most 5
    left = await app.query("jobs:all_scheduled")
    assert [r["state"]["kind"] for r in left] == ["pending"]


async def test_a_failing_mutation_among_due_ones_fails_alone(app: TestApp) -> None:
    # On SQLite due mutations run inside the claim's transaction; one that raises must not
    # take the others down, run twice, or leave its writes behind.
    ids = [
        await app.mutation("jobs:schedule", {"function": "jobs:record", "args": {"tag": "a"}}),
        await app.mutation(
            "jobs:schedule",
            {"function": "jobs:record_then_fail", "args": {"tag": "x", "message": "no"}},
        ),
        await app.mutation("jobs:schedule", {"function": "jobs:record", "args": {"tag": "b"}}),
    ]
    assert await app.finish_in_progress_scheduled() == 3
    states = [(await app.query("jobs:scheduled", {"id": i}))["state"]["kind"] for i in ids]
    assert states == ["success", "failed", "success"]
    assert sorted(run["tag"] for run in await app.query("jobs:runs")) == ["a", "b"]
