"""The built-in function behind ``mainspring crons ls`` (admin only).

``_system/crons:list`` reads ``_cron_jobs`` with each cron's latest runs from ``_cron_runs``
(what the database holds: the crons as the last process to start reconciled them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ValidationError
from ..functions import system_function
from .schedule import schedule_from_json
from .tables import BY_CRON_TICK, BY_NAME, HISTORY, JOBS_TABLE, RUNS_TABLE

__all__ = ["SYSTEM_FUNCTIONS"]


@system_function("query")
async def list_crons(ctx: Any, runs: int = 5) -> list[dict[str, Any]]:
    """Every cron by name: its schedule (described), function, next run and latest runs
    (newest first, at most ``runs``)."""
    if not 0 <= runs <= HISTORY:
        raise ValidationError(f"runs must be between 0 and {HISTORY}")
    system = ctx.db.system
    listed = []
    async for cron in system.query(JOBS_TABLE).with_index(BY_NAME):
        latest = []
        if runs:
            latest = await (
                system.query(RUNS_TABLE)
                .with_index(BY_CRON_TICK, lambda q, name=cron["name"]: q.eq("cron", name))
                .order("desc")
                .take(runs)
            )
        listed.append(
            {
                "name": cron["name"],
                "schedule": schedule_from_json(cron["schedule"]).describe(),
                "function": cron["function"],
                "args": cron["args"],
                "catchUp": cron["catchUp"],
                "nextRun": cron["nextRun"],
                "runs": latest,
            }
        )
    return listed


#: Registered into every app by the runtime.
SYSTEM_FUNCTIONS: Mapping[str, Any] = {"_system/crons:list": list_crons}
