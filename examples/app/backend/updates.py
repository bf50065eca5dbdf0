"""Checking for updates every 15 minutes — the first seed's cron-expression example.

The "check for updates" cron (``crons.py``, ``*/15 * * * *``) runs :func:`check`. A real
app would ask a release feed here (from an action); this one keeps a status row — when it
last checked, the version it runs, how many checks so far — which is what a status page shows.
"""

from __future__ import annotations

from typing import Any

import mainspring
from mainspring import MutationCtx, QueryCtx, internal_mutation, internal_query


@internal_mutation
async def check(ctx: MutationCtx) -> int:
    """Record a check at the deployment's time; how many checks have been made."""
    status = await ctx.db.query("update_checks").first()
    fields = {"checked_at": ctx.now_ms(), "current_version": mainspring.__version__}
    if status is None:
        await ctx.db.insert("update_checks", {**fields, "checks": 1})
        return 1
    # One row, updated: a check every 15 minutes would otherwise grow the table forever.
    checks = int(status["checks"]) + 1
    await ctx.db.patch(status["_id"], {**fields, "checks": checks})
    return checks


@internal_query
async def status(ctx: QueryCtx) -> dict[str, Any] | None:
    """The latest check (``checked_at``, ``current_version``, ``checks``), or None."""
    return await ctx.db.query("update_checks").first()
