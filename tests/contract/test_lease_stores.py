"""The lease store contract (:class:`mainspring.lease.store.LeaseStore`), checked of every
store — scheduled functions and work-pool items — on every database.

Each test drives two stores of one kind as two processes' engines would (owners ``a`` and
``b``), on the harness's virtual clock, and reads the rows back through a small adapter that
maps each store's states onto the contract's words: due, running, succeeded, failed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mainspring.auth import Auth
from mainspring.lease.store import Claim, LeaseStore
from mainspring.scheduling.claims import JobStore
from mainspring.testing import TestApp
from mainspring.workpool.claims import ItemStore
from tests.support.paths import APPS

BACKEND = APPS / "lease_app" / "backend"
START = 1_700_000_000_000.0
LEASE_MS = 1_000.0

STORES: dict[str, tuple[type[Any], str, str]] = {
    # kind: (store class, system table, the system function that lists its rows)
    "scheduled": (JobStore, "_scheduled_functions", "_system/scheduler:list"),
    "workpool": (ItemStore, "_workpool_items", "_system/workpool:list"),
}


def _word(kind: str, row: dict[str, Any]) -> str:
    if kind == "scheduled":
        return {
            "pending": "due",
            "inProgress": "running",
            "success": "succeeded",
            "failed": "failed",
            "canceled": "canceled",
        }[row["state"]["kind"]]
    if row["status"] == "pending":
        return "due"
    if row["status"] == "running":
        return "running"
    return {"success": "succeeded", "failed": "failed", "canceled": "canceled"}[
        row["result"]["kind"]
    ]


class Harness:
    """One app, and stores of one kind for owners ``a`` and ``b``."""

    def __init__(self, app: TestApp, kind: str) -> None:
        self.app = app
        self.kind = kind
        cls = STORES[kind][0]
        self.a: LeaseStore[Any] = cls(app.runtime, "a", LEASE_MS)
        self.b: LeaseStore[Any] = cls(app.runtime, "b", LEASE_MS)

    async def put(self, function: str, name: str, after_ms: float = 0.0) -> str:
        at = self.app.clock.now_ms() + after_ms
        args = {"store": self.kind, "function": function, "name": name, "at": at}
        run_id: str = await self.app.mutation("work:put", args)
        return run_id

    async def states(self) -> dict[str, str]:
        rows = await self.app.runtime.call(STORES[self.kind][2], {"limit": 1000})
        return {row["_id"]: _word(self.kind, row) for row in rows}

    async def row(self, run_id: str) -> dict[str, Any]:
        rows = await self.app.runtime.call(STORES[self.kind][2], {"limit": 1000})
        [row] = [r for r in rows if r["_id"] == run_id]
        return dict(row)

    async def counts(self) -> dict[str, int]:
        counts: dict[str, int] = await self.app.query("work:counts")
        return counts

    def body(self, run_id: str, claim: Claim) -> Callable[..., Any]:
        [run] = [r for r in claim.runs if r.id == run_id]
        definition = self.app.runtime.registry.resolve(run.name)
        return self.app.runtime.mutation_body(definition, run.args, Auth())


@pytest.fixture(params=sorted(STORES))
async def h(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Harness]:
    async with TestApp(BACKEND, database=database_url, start_ms=START) as app:
        yield Harness(app, request.param)


async def test_claim_takes_due_rows_once_under_the_owners_lease(h: Harness) -> None:
    due = [await h.put("act", f"n{i}") for i in range(3)]
    later = await h.put("act", "later", after_ms=60_000)
    claim = await h.a.claim(2)
    assert len(claim.runs) == 2 and claim.full and claim.ran == 0
    assert {run.id for run in claim.runs} < set(due)
    for run in claim.runs:
        assert run.lease_expires == START + LEASE_MS
        assert run.name == "work:act" and run.args == {"name": run.args["name"]}
    rest = await h.b.claim(10)  # another owner gets only what is left
    assert [run.id for run in rest.runs] == [i for i in due if i not in {r.id for r in claim.runs}]
    assert not rest.full
    assert (await h.a.claim(10)).runs == []  # nothing due is left; `later` is not due
    states = await h.states()
    assert [states[i] for i in due] == ["running"] * 3 and states[later] == "due"


async def test_next_due_is_the_earliest_row_not_running(h: Harness) -> None:
    assert await h.a.next_due() is None
    await h.put("act", "soon", after_ms=5_000)
    await h.put("act", "later", after_ms=9_000)
    assert await h.a.next_due() == START + 5_000
    assert await h.a.next_due(after=START + 5_000) == START + 9_000
    assert await h.a.next_due(after=START + 9_000) is None
    h.app.clock.advance(5_000)
    await h.a.claim(10)  # "soon" is running now
    assert await h.a.next_due() == START + 9_000


async def test_inline_claims_run_mutations_in_the_claim(h: Harness) -> None:
    mutation = await h.put("bump", "inline")
    action = await h.put("act", "act")
    engine = h.app.scheduled.executor if h.kind == "scheduled" else h.app.workpools.dispatcher
    # The engine passes ``inline`` only where claims are serializable (SQLite); the store's
    # side of the contract holds on both databases.
    claim = await h.a.claim(10, engine.runner.mutation_of)
    assert claim.ran == 1 and [run.id for run in claim.runs] == [action]
    assert await h.counts() == {"inline": 1}
    states = await h.states()
    assert states[mutation] == "succeeded" and states[action] == "running"


async def test_a_failing_inline_mutation_is_claimed_plainly_and_keeps_no_write(h: Harness) -> None:
    good = await h.put("bump", "good")
    bad = await h.put("bump_then_fail", "bad")
    engine = h.app.scheduled.executor if h.kind == "scheduled" else h.app.workpools.dispatcher
    claim = await h.a.claim(10, engine.runner.mutation_of)
    assert claim.ran == 0 and {run.id for run in claim.runs} == {good, bad}
    assert await h.counts() == {}  # the good one rolled back with the bad one: not run yet
    assert set((await h.states()).values()) == {"running"}


async def test_run_mutations_runs_only_rows_still_ours_and_records_success(h: Harness) -> None:
    ours = await h.put("bump", "ours")
    theirs = await h.put("bump", "theirs")
    claim_a = await h.a.claim(1)
    claim_b = await h.b.claim(1)
    [mine], [other] = claim_a.runs, claim_b.runs
    batch = [(mine.id, h.body(mine.id, claim_a)), (other.id, h.body(other.id, claim_b))]
    assert await h.a.run_mutations(batch) == 1  # b's row is not a's to run
    states = await h.states()
    assert states[mine.id] == "succeeded" and states[other.id] == "running"
    assert sorted(await h.counts()) == [mine.args["name"]]
    assert {ours, theirs} == {mine.id, other.id}


async def test_run_mutations_is_all_or_nothing(h: Harness) -> None:
    await h.put("bump", "one")
    await h.put("bump_then_fail", "two")
    claim = await h.a.claim(2)
    batch = [(run.id, h.body(run.id, claim)) for run in claim.runs]
    with pytest.raises(RuntimeError, match="failed on purpose"):
        await h.a.run_mutations(batch)
    assert await h.counts() == {}
    assert set((await h.states()).values()) == {"running"}  # still ours, nothing recorded


async def test_finish_records_outcomes_of_rows_still_ours(h: Harness) -> None:
    first = await h.put("act", "first")
    second = await h.put("act", "second")
    await h.a.claim(1)
    await h.b.claim(1)
    await h.a.finish([(first, h.a.success("ok")), (second, h.a.failure("boom", retryable=False))])
    states = await h.states()
    # Only a's row changed; b's is left running whatever a says of it.
    [a_row] = [i for i in (first, second) if states[i] != "running"]
    assert states[a_row] == "succeeded" and a_row == first
    await h.b.finish([(second, h.b.failure("boom", retryable=False))])
    assert (await h.states())[second] == "failed"
    row = await h.row(second)
    error = row["state"]["error"] if h.kind == "scheduled" else row["result"]["error"]
    assert error == "boom"


async def test_release_gives_rows_back_due_without_a_lease(h: Harness) -> None:
    run_id = await h.put("bump", "released")
    await h.a.claim(1)
    await h.b.release([run_id])  # not b's: nothing happens
    assert (await h.states())[run_id] == "running"
    await h.a.release([run_id])
    row = await h.row(run_id)
    assert _word(h.kind, row) == "due" and "lease" not in row
    assert [run.id for run in (await h.b.claim(1)).runs] == [run_id]


async def test_heartbeat_extends_only_our_leases(h: Harness) -> None:
    ours = await h.put("act", "ours")
    await h.a.claim(1)
    theirs = await h.put("act", "theirs")
    await h.b.claim(1)
    h.app.clock.advance(600)
    expires = await h.a.heartbeat([ours, theirs])
    assert expires == START + 600 + LEASE_MS
    assert (await h.row(ours))["lease"]["expires"] == expires
    assert (await h.row(theirs))["lease"]["expires"] == START + LEASE_MS


async def test_reap_settles_expired_leases(h: Harness) -> None:
    mutation = await h.put("bump", "mutation")
    action = await h.put("act", "action")
    await h.b.claim(10)  # b claims both, then dies
    assert await h.a.reap() == 0  # not expired yet
    h.app.clock.advance(LEASE_MS + 1)
    assert await h.a.reap() == 2
    states = await h.states()
    assert states[mutation] == "due"  # nothing of it committed: it runs again
    row = await h.row(action)
    if h.kind == "scheduled":
        assert states[action] == "failed" and "died" in row["state"]["error"]
    else:  # a work item's attempt counts as failed; with no retry policy it is final
        assert states[action] == "failed" and "died" in row["result"]["error"]


async def test_prune_deletes_finished_rows_before_the_cutoff_in_batches(h: Harness) -> None:
    ids = [await h.put("act", f"p{i}") for i in range(3)]
    claim = await h.a.claim(3)
    await h.a.finish([(run.id, h.a.success(None)) for run in claim.runs])
    h.app.clock.advance(1_000)
    kept = await h.put("act", "kept")
    cutoff = h.app.clock.now_ms()
    assert await h.a.prune(cutoff - 2_000, 10) == 0  # none finished that long ago
    assert await h.a.prune(cutoff, 2) == 2
    assert await h.a.prune(cutoff, 2) == 1
    assert await h.a.prune(cutoff, 2) == 0
    assert set(await h.states()) == {kept}
    assert kept not in ids
