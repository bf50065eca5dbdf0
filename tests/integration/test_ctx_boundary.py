"""The user's ctx is Convex's API and nothing more: every former way into Mainspring's
internals fails with an error naming what the ctx offers, and nothing it tried is written."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mainspring import NotAllowedError, Workpool
from mainspring.testing import TestApp
from tests.support.paths import APPS

BACKEND = APPS / "escape_app" / "backend"
#: Each former way in, and the attribute that is now refused.
HATCHES = {
    "runtime": "runtime",
    "system_writer": "system_writer",
    "system_insert": "insert",
    "system_patch": "patch",
    "scan": "scan",
    "claim": "claim",
    "count": "count",
    "notify": "notify",
    "prefetch": "prefetch",
    "index_for": "index_for",
    "writes": "writes",
    "db_store": "store",
    "env_invalidate": "invalidate",
    "env_refresh": "refresh_if_stale",
    "env_runtime": "runtime",
    "scheduler_runtime": "runtime",
}


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[TestApp]:
    async with TestApp(BACKEND, database=database_url) as t:
        yield t


async def _notes(app: TestApp) -> int:
    result = await app.query("hatches:offered")
    return int(result["notes"])


@pytest.mark.parametrize("hatch", HATCHES)
async def test_a_mutation_cannot_reach_internals(app: TestApp, hatch: str) -> None:
    with pytest.raises(AttributeError) as raised:
        await app.mutation("hatches:try_hatch", {"hatch": hatch})
    message = str(raised.value)
    assert repr(HATCHES[hatch]) in message, message  # names the refused attribute
    if not hatch.startswith("scheduler"):
        assert "it offers" in message, message  # and what the object does offer
    assert await _notes(app) == 0  # the mutation's own insert rolled back with it


async def test_the_messages_name_what_each_ctx_offers(app: TestApp) -> None:
    with pytest.raises(AttributeError, match=r"a mutation's ctx has no attribute 'runtime'"):
        await app.mutation("hatches:try_hatch", {"hatch": "runtime"})
    with pytest.raises(AttributeError, match=r"ctx.db has no attribute 'system_writer': it offers"):
        await app.mutation("hatches:try_hatch", {"hatch": "system_writer"})
    with pytest.raises(AttributeError, match=r"ctx.db.system has no attribute 'insert'.*read-only"):
        await app.mutation("hatches:try_hatch", {"hatch": "system_insert"})
    with pytest.raises(AttributeError, match=r"a query's ctx has no attribute 'runtime'"):
        await app.query("hatches:query_hatch", {"hatch": "runtime"})
    with pytest.raises(AttributeError, match=r"ctx.db has no attribute 'insert'"):
        await app.query("hatches:query_hatch", {"hatch": "insert"})
    with pytest.raises(AttributeError, match=r"ctx.db has no attribute 'scan'"):
        await app.query("hatches:query_hatch", {"hatch": "scan"})
    with pytest.raises(AttributeError, match=r"an action's ctx has no attribute 'runtime'"):
        await app.action("hatches:action_hatch", {"hatch": "runtime"})
    with pytest.raises(AttributeError, match=r"an action's ctx has no attribute 'db'.*run_query"):
        await app.action("hatches:action_hatch", {"hatch": "db"})


async def test_system_tables_cannot_be_forged(app: TestApp) -> None:
    for table in ("_environment_variables", "_scheduled_functions", "_storage", "_workpool_items"):
        with pytest.raises(NotAllowedError, match=r"ctx\.db\.system"):
            await app.mutation("hatches:write_system_table", {"table": table})
    assert await app.runtime.call("_system/env:list", {}) == {}
    job_id = await app.mutation("hatches:schedule")
    with pytest.raises(NotAllowedError, match="system table '_scheduled_functions'"):
        await app.mutation("hatches:patch_system_row", {"doc_id": job_id})
    rows = await app.runtime.call("_system/scheduler:list", {})
    assert [(row["_id"], row["state"]["kind"]) for row in rows] == [(job_id, "pending")]


async def test_what_the_ctx_offers_still_works(app: TestApp) -> None:
    await app.set_env("GREETING", "hi")
    await app.mutation("hatches:schedule")
    assert await app.query("hatches:offered") == {
        "notes": 0,
        "scheduled": 1,
        "env": {"GREETING": "hi"},
        "now": True,
    }


async def test_a_work_pool_needs_a_functions_ctx(app: TestApp) -> None:
    pool = Workpool("boundary")
    with pytest.raises(NotAllowedError, match="expected a function's ctx, got object"):
        await pool.enqueue_action(object(), "hatches:noop")  # type: ignore[arg-type]


async def test_only_storage_and_scheduled_functions_are_readable(app: TestApp) -> None:
    await app.set_env("SECRET", "s3cret")
    await app.mutation("hatches:schedule")
    assert await app.query("hatches:read_system", {"table": "_scheduled_functions"}) == 1
    assert await app.query("hatches:read_system", {"table": "_storage"}) == 0
    internal = ["_environment_variables", "_workpool_items", "_cron_jobs", "_session_requests"]
    for table in internal:
        with pytest.raises(NotAllowedError, match=f"'{table}' is internal to Mainspring"):
            await app.query("hatches:read_system", {"table": table})
    async with app.runtime.read_snapshot() as reader:
        row = await reader.system.query("_environment_variables").first()
    assert row is not None and row["value"] == "s3cret"
    with pytest.raises(NotAllowedError, match="'_environment_variables' is internal"):
        await app.query("hatches:get_system", {"doc_id": row["_id"]})
