"""Functions the test crons call: each records when it ran and what it saw."""

from __future__ import annotations

from mainspring import ActionCtx, MutationCtx, internal, internal_action, internal_mutation, query
from mainspring.functions import system_function


@internal_mutation
async def record(ctx: MutationCtx, cron: str) -> None:
    """Insert a tick row: the time, the identity (always None) and the LARK_TOKEN env var."""
    await ctx.db.insert(
        "ticks",
        {
            "cron": cron,
            "at": ctx.now_ms(),
            "identity": await ctx.auth.get_user_identity(),
            "token": ctx.env.get("LARK_TOKEN"),
        },
    )


@internal_action
async def record_from_action(ctx: ActionCtx, cron: str) -> None:
    """The same, from an action (through a mutation)."""
    await ctx.run_mutation(internal.ticks.record, {"cron": cron})


@query
async def count(ctx: object, cron: str) -> int:
    """How many times ``cron`` ran."""
    rows = await ctx.db.query("ticks").with_index("by_cron", lambda q: q.eq("cron", cron)).collect()  # type: ignore[attr-defined]
    return len(rows)


@system_function("query")  # a test device: reads a table internal to Mainspring
async def runs(ctx: object, cron: str | None = None) -> list[dict[str, object]]:
    """The ``_cron_runs`` history (of one cron, or all), oldest first."""
    rows = await ctx.db.system.query("_cron_runs").collect()  # type: ignore[attr-defined]
    return [row for row in rows if cron is None or row["cron"] == cron]


@query
async def times(ctx: object, cron: str) -> list[float]:
    """When ``cron``'s function ran, in order."""
    rows = await ctx.db.query("ticks").with_index("by_cron", lambda q: q.eq("cron", cron)).collect()  # type: ignore[attr-defined]
    return [row["at"] for row in rows]


@internal_mutation
async def fail(ctx: MutationCtx, cron: str) -> None:
    """Record a tick, then fail (the tick's write is rolled back with the failure)."""
    await ctx.db.insert(
        "ticks", {"cron": cron, "at": ctx.now_ms(), "identity": None, "token": None}
    )
    raise RuntimeError(f"{cron} is broken")
