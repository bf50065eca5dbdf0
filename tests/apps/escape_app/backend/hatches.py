"""Functions that try every way into Mainspring's internals a ctx once offered."""

from __future__ import annotations

from typing import Any

from mainspring import (
    ActionCtx,
    MutationCtx,
    QueryCtx,
    action,
    internal,
    internal_mutation,
    mutation,
    query,
)

MUTATION_HATCHES = {
    "runtime": lambda ctx: ctx.runtime,
    "system_writer": lambda ctx: ctx.db.system_writer(),
    "system_insert": lambda ctx: ctx.db.system.insert("_environment_variables", {}),
    "system_patch": lambda ctx: ctx.db.system.patch("x", {}),
    "scan": lambda ctx: ctx.db.scan,
    "claim": lambda ctx: ctx.db.claim,
    "count": lambda ctx: ctx.db.count,
    "notify": lambda ctx: ctx.db.notify("ms_scheduler", "0"),
    "prefetch": lambda ctx: ctx.db.prefetch([]),
    "index_for": lambda ctx: ctx.db.index_for,
    "writes": lambda ctx: ctx.db.writes,
    "db_store": lambda ctx: ctx.db.store,
    "env_invalidate": lambda ctx: ctx.env.invalidate(),
    "env_refresh": lambda ctx: ctx.env.refresh_if_stale(),
    "env_runtime": lambda ctx: ctx.env.runtime,
    "scheduler_runtime": lambda ctx: ctx.scheduler.runtime,
}


@mutation
async def try_hatch(ctx: MutationCtx, hatch: str) -> str:
    """Insert a note, then try ``hatch``: the error's type and message (the note rolls back
    with the failed mutation)."""
    await ctx.db.insert("notes", {"body": hatch})
    result = MUTATION_HATCHES[hatch](ctx)
    if hasattr(result, "__await__"):
        await result
    return "escaped"


@mutation
async def write_system_table(ctx: MutationCtx, table: str) -> str:
    """Write a system table through the user API."""
    return await ctx.db.insert(table, {"name": "FORGED", "value": "1"})


@mutation
async def patch_system_row(ctx: MutationCtx, doc_id: str) -> None:
    """Patch a system row (a scheduled function's) through the user API."""
    await ctx.db.patch(doc_id, {"state": {"kind": "success"}})


@mutation
async def schedule(ctx: MutationCtx) -> str:
    """A scheduled function's id, for the forging attempts."""
    return await ctx.scheduler.run_after(60_000, internal.hatches.noop, {})


@internal_mutation
async def noop(ctx: MutationCtx) -> None:
    """Nothing."""


@query
async def query_hatch(ctx: QueryCtx, hatch: str) -> Any:
    """A query's ctx has no runtime and its db does not write."""
    if hatch == "runtime":
        return ctx.runtime
    if hatch == "insert":
        return await ctx.db.insert("notes", {"body": "x"})  # type: ignore[attr-defined]
    if hatch == "scan":
        return ctx.db.scan
    return None


@query
async def offered(ctx: QueryCtx) -> dict[str, Any]:
    """What a query's ctx does offer still works: reads of user and system tables."""
    return {
        "notes": len(await ctx.db.query("notes").collect()),
        "scheduled": len(await ctx.db.system.query("_scheduled_functions").collect()),
        "env": dict(ctx.env),
        "now": ctx.now_ms() > 0,
    }


@action
async def action_hatch(ctx: ActionCtx, hatch: str) -> Any:
    """An action's ctx has neither a database nor the runtime."""
    if hatch == "runtime":
        return ctx.runtime
    if hatch == "db":
        return ctx.db  # type: ignore[attr-defined]
    return None


@query
async def read_system(ctx: QueryCtx, table: str) -> int:
    """Read a system table through ``ctx.db.system``."""
    return len(await ctx.db.system.query(table).collect())


@query
async def get_system(ctx: QueryCtx, doc_id: str) -> Any:
    """Get a system document by id through ``ctx.db.system``."""
    return await ctx.db.system.get(doc_id)
