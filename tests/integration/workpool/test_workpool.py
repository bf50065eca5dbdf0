"""Work pools in the harness, on SQLite and PostgreSQL: retries and backoff on the virtual
clock, NonRetryableError, on_complete exactly once, mutations exactly once, transactional
enqueue, status, cancel, caps (0 pauses), pruning."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from mainspring import AppError, NotAllowedError, RetryPolicy, ValidationError, Workpool
from mainspring.testing import TestApp
from tests.support.paths import APPS

BACKEND = APPS / "workpool_app" / "backend"
START = 1_700_000_000_000.0


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[TestApp]:
    async with TestApp(BACKEND, database=database_url, start_ms=START) as t:
        yield t


async def _items(app: TestApp, **filters: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await app.runtime.call("_system/workpool:list", filters)
    return rows


async def test_success_runs_once_and_calls_on_complete(app: TestApp) -> None:
    work_id = await app.mutation("work:enqueue", {"pool": "plain", "tag": "a"})
    assert await app.query("work:status", {"pool": "plain", "work_id": work_id}) == {
        "state": "pending",
        "previousAttempts": 0,
    }
    assert await app.finish_all_scheduled() == 1
    status = await app.query("work:status", {"pool": "plain", "work_id": work_id})
    assert status == {
        "state": "finished",
        "result": {"kind": "success", "returnValue": "a ok after 1"},
    }
    [done] = await app.query("work:completions")
    assert done["work_id"] == work_id
    assert done["context"] == {"tag": "a"}
    assert done["result"] == {"kind": "success", "returnValue": "a ok after 1"}
    assert len(await app.query("work:runs", {"tag": "a"})) == 1


async def test_retries_follow_the_backoff_on_the_virtual_clock(app: TestApp) -> None:
    work_id = await app.mutation("work:enqueue", {"pool": "flaky", "tag": "f", "fail_times": 3})
    await app.advance_time(0)
    status = await app.query("work:status", {"pool": "flaky", "work_id": work_id})
    assert status == {"state": "pending", "previousAttempts": 1}
    [item] = await _items(app)
    assert item["runAt"] - START == 1000  # initial * base^0
    assert item["lastError"] == "RuntimeError: f: failure 1"
    await app.advance_time(999)
    assert len(await app.query("work:runs", {"tag": "f"})) == 1  # not yet
    await app.advance_time(10_000)
    runs = [r["at"] - START for r in await app.query("work:runs", {"tag": "f"})]
    # 1 s, then 2 s, then 4 s after each failure: initial * base^(attempt - 1).
    assert runs == [0, 1000, 3000, 7000]
    [done] = await app.query("work:completions")
    assert done["result"] == {"kind": "success", "returnValue": "f ok after 4"}


async def test_attempts_run_out_and_the_item_fails_once(app: TestApp) -> None:
    work_id = await app.mutation("work:enqueue", {"pool": "flaky", "tag": "g", "fail_times": 9})
    await app.finish_all_scheduled()
    assert len(await app.query("work:runs", {"tag": "g"})) == 4  # max_attempts
    status = await app.query("work:status", {"pool": "flaky", "work_id": work_id})
    assert status == {
        "state": "finished",
        "result": {"kind": "failed", "error": "RuntimeError: g: failure 4"},
    }
    [done] = await app.query("work:completions")
    assert done["result"]["kind"] == "failed"
    [item] = await _items(app)
    assert item["attempts"] == 4


async def test_non_retryable_error_stops_retries(app: TestApp) -> None:
    await app.mutation(
        "work:enqueue", {"pool": "flaky", "tag": "n", "fail_times": 9, "permanent": True}
    )
    await app.finish_all_scheduled()
    assert len(await app.query("work:runs", {"tag": "n"})) == 1
    [done] = await app.query("work:completions")
    assert done["result"] == {"kind": "failed", "error": "n: permanent failure"}


async def test_a_pool_without_a_policy_never_retries(app: TestApp) -> None:
    await app.mutation("work:enqueue", {"pool": "plain", "tag": "p", "fail_times": 1})
    await app.finish_all_scheduled()
    assert len(await app.query("work:runs", {"tag": "p"})) == 1
    [done] = await app.query("work:completions")
    assert done["result"]["kind"] == "failed"


async def test_jitter_stays_within_half_to_one_and_a_half_of_the_nominal_wait(
    app: TestApp,
) -> None:
    for i in range(6):
        await app.mutation("work:enqueue", {"pool": "jittery", "tag": f"j{i}", "fail_times": 2})
    await app.advance_time(0)
    waits = [item["runAt"] - START for item in await _items(app)]
    assert all(500 <= w < 1500 for w in waits), waits
    assert len(set(waits)) > 1  # jittered, not in lockstep
    await app.finish_all_scheduled()
    assert len(await app.query("work:completions")) == 6


def test_backoff_arithmetic() -> None:
    policy = RetryPolicy(max_attempts=5, initial_backoff_ms=250, base=2, jitter=False)
    assert [policy.backoff_ms(n) for n in (1, 2, 3, 4)] == [250, 500, 1000, 2000]
    jittered = RetryPolicy(initial_backoff_ms=1000, base=2, jitter=True)
    for n in (1, 2, 3):
        for _ in range(200):
            assert 0.5 * 1000 * 2 ** (n - 1) <= jittered.backoff_ms(n) < 1.5 * 1000 * 2 ** (n - 1)
    with pytest.raises(Exception, match="max_attempts must be at least 1"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(Exception, match="base must be at least 1"):
        RetryPolicy(base=0.5)


async def test_enqueue_rolls_back_with_its_mutation(app: TestApp) -> None:
    with pytest.raises(AppError, match="the enqueueing mutation failed"):
        await app.mutation("work:enqueue", {"pool": "plain", "tag": "r", "then_fail": True})
    assert await _items(app) == []
    assert await app.finish_all_scheduled() == 0


async def test_enqueue_from_an_action_commits_at_once(app: TestApp) -> None:
    ids = await app.action("work:enqueue_from_action", {"pool": "plain", "tags": ["x", "y"]})
    assert len(ids) == 2
    assert {i["status"] for i in await _items(app)} == {"pending"}
    await app.finish_all_scheduled()
    assert sorted(c["work_id"] for c in await app.query("work:completions")) == sorted(ids)


async def test_delay_holds_the_item_until_its_time(app: TestApp) -> None:
    await app.mutation("work:enqueue", {"pool": "plain", "tag": "d", "delay": 5000})
    await app.advance_time(4999)
    assert await app.query("work:runs", {"tag": "d"}) == []
    await app.advance_time(1)
    [run] = await app.query("work:runs", {"tag": "d"})
    assert run["at"] == START + 5000


async def test_mutations_run_exactly_once_with_their_completion(app: TestApp) -> None:
    counters = await app.mutation("work:make_counters", {"names": ["a", "b", "c"]})
    ids = await app.mutation("work:enqueue_bumps", {"pool": "plain", "counters": counters})
    await app.finish_all_scheduled()
    assert await app.query("work:counter_values") == [1, 1, 1]
    done = await app.query("work:completions")
    assert sorted(d["work_id"] for d in done) == sorted(ids)
    assert {d["result"]["returnValue"] for d in done} == {1}


async def test_a_failing_mutation_rolls_back_and_is_not_retried(app: TestApp) -> None:
    counters = await app.mutation("work:make_counters", {"names": ["a"]})
    await app.mutation("work:enqueue_bumps", {"pool": "flaky", "counters": counters, "fail": True})
    await app.finish_all_scheduled()
    assert await app.query("work:counter_values") == [0]
    [done] = await app.query("work:completions")
    assert done["result"] == {"kind": "failed", "error": "bump failed on purpose"}


async def test_a_failing_on_complete_does_not_undo_the_work(app: TestApp) -> None:
    counters = await app.mutation("work:make_counters", {"names": ["a", "b"]})
    await app.mutation(
        "work:enqueue_bumps", {"pool": "plain", "counters": counters, "failing_callback": True}
    )
    await app.finish_all_scheduled()
    assert await app.query("work:counter_values") == [1, 1]
    assert await app.query("work:completions") == []  # the callback's writes rolled back
    items = await _items(app)
    assert {i["status"] for i in items} == {"finished"}
    assert {i["onCompleteError"] for i in items} == {"on_complete failed on purpose"}


async def test_cancel_pending_calls_on_complete_and_never_runs(app: TestApp) -> None:
    work_id = await app.mutation("work:enqueue", {"pool": "plain", "tag": "c", "delay": 1000})
    await app.mutation("work:cancel", {"pool": "plain", "work_id": work_id})
    await app.finish_all_scheduled()
    assert await app.query("work:runs", {"tag": "c"}) == []
    [done] = await app.query("work:completions")
    assert done["result"] == {"kind": "canceled"}
    status = await app.query("work:status", {"pool": "plain", "work_id": work_id})
    assert status == {"state": "finished", "result": {"kind": "canceled"}}
    # Canceling again, or a finished item, changes nothing.
    await app.mutation("work:cancel", {"pool": "plain", "work_id": work_id})
    assert len(await app.query("work:completions")) == 1


async def test_cancel_between_retries_stops_them(app: TestApp) -> None:
    work_id = await app.mutation("work:enqueue", {"pool": "flaky", "tag": "b", "fail_times": 9})
    await app.advance_time(0)
    await app.mutation("work:cancel", {"pool": "flaky", "work_id": work_id})
    await app.finish_all_scheduled()
    assert len(await app.query("work:runs", {"tag": "b"})) == 1
    [done] = await app.query("work:completions")
    assert done["result"] == {"kind": "canceled"}


async def test_cancel_all(app: TestApp) -> None:
    for i in range(4):
        await app.mutation("work:enqueue", {"pool": "plain", "tag": f"k{i}"})
    await app.mutation("work:enqueue", {"pool": "flaky", "tag": "other"})
    assert await app.mutation("work:cancel_all", {"pool": "plain"}) == 4
    await app.finish_all_scheduled()
    results = [d["result"]["kind"] for d in await app.query("work:completions")]
    assert sorted(results) == ["canceled"] * 4 + ["success"]


async def test_cap_zero_pauses_and_the_cap_changes_at_run_time(app: TestApp) -> None:
    for i in range(6):
        await app.mutation("work:enqueue", {"pool": "plain", "tag": f"z{i}"})
    assert (
        await app.runtime.call(
            "_system/workpool:set_parallelism", {"pool": "plain", "max_parallelism": 0}
        )
        == 5
    )
    assert await app.advance_time(1000) == 0
    assert await app.finish_all_scheduled() == 0  # a paused pool is not waited for
    await app.runtime.call(
        "_system/workpool:set_parallelism", {"pool": "plain", "max_parallelism": 2}
    )
    # The harness runs one claim's worth per round: at most the cap at once.
    assert await app.workpools.dispatcher.run_due() == 2
    assert await app.finish_all_scheduled() == 4
    [pool] = [
        p for p in await app.runtime.call("_system/workpool:pools", {}) if p["name"] == "plain"
    ]
    assert pool == {
        "name": "plain", "maxParallelism": 2, "declared": 5, "pending": 0, "running": 0
    }  # fmt: skip


async def test_finished_items_are_pruned_after_the_retention(app: TestApp) -> None:
    await app.mutation("work:enqueue", {"pool": "plain", "tag": "old"})
    await app.finish_all_scheduled()
    assert await app.workpools.prune() == 0
    await app.advance_time(24 * 3600 * 1000 + 1)
    assert await app.workpools.prune() == 1
    assert await _items(app) == []


async def test_a_dead_processes_action_counts_as_a_failed_attempt(app: TestApp) -> None:
    work_id = await app.mutation("work:enqueue", {"pool": "flaky", "tag": "dead"})
    # Another process claimed it and died: its lease expires.
    other = app.workpools.dispatcher.store
    claim = await type(other)(app.runtime, "gone:1", 1000).claim(10)
    assert [run.id for run in claim.runs] == [work_id]
    assert await app.workpools.reap() == 0
    app.clock.advance(1001)
    assert await app.workpools.reap() == 1
    [item] = await _items(app)
    assert item["status"] == "pending"
    assert item["attempts"] == 1
    assert "died" in item["lastError"]
    await app.finish_all_scheduled()
    [done] = await app.query("work:completions")
    assert done["result"]["kind"] == "success"


async def test_enqueue_checks_what_it_is_given(app: TestApp) -> None:
    pool = Workpool("checks")
    with pytest.raises(ValidationError, match="invalid arguments"):
        await app.runtime.call(
            "work:enqueue", {"pool": "plain", "tag": 3}
        )  # the function's own validation

    async def body(writer: Any) -> None:
        bump = app.runtime.registry.resolve("work:bump")
        ctx = app.runtime.mutation_ctx(bump, writer, __import__("mainspring").Auth())
        with pytest.raises(NotAllowedError, match="use enqueue_mutation"):
            await pool.enqueue_action(ctx, "work:bump", {"counter": "x"})
        with pytest.raises(NotAllowedError, match="is a query"):
            await pool.enqueue_mutation(ctx, "work:runs", {})
        with pytest.raises(ValidationError, match="work:flaky: invalid arguments"):
            await pool.enqueue_action(ctx, "work:flaky", {"tag": 1})
        with pytest.raises(NotAllowedError, match="must be a mutation"):
            await pool.enqueue_action(ctx, "work:flaky", {"tag": "t"}, on_complete="work:runs")
        with pytest.raises(ValidationError, match="must take"):
            await pool.enqueue_action(ctx, "work:flaky", {"tag": "t"}, on_complete="work:bump")
        with pytest.raises(ValidationError, match="not both"):
            await pool.enqueue_action(ctx, "work:flaky", {"tag": "t"}, run_after=1, run_at=2)

    await app.runtime.transact(body, label="checks")
    with pytest.raises(Exception, match="Workpool name"):
        Workpool("bad name!")
    with pytest.raises(Exception, match="max_parallelism must be 0"):
        Workpool("neg", max_parallelism=-1)
