"""Keeping ``_cron_runs`` up to date as a cron's scheduled function runs.

A firing writes the run row (``scheduled``) and a ``_scheduled_functions`` row that points
back at it (``cron: {"name", "run"}``); the executor calls :func:`record_job_state` in the
same transactions that change the job's state, so the history says when the run started and
how it ended without a second source of truth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .tables import BY_CRON_TICK, HISTORY, RUNS_TABLE

if TYPE_CHECKING:
    from ..db.store import DocumentWriter
    from ..scheduling.jobs import ScheduledFunctionRow, StateValue

__all__ = ["record_job_state", "record_run", "trim_history"]


async def record_job_state(
    system: DocumentWriter, job: ScheduledFunctionRow, state: StateValue, now: float
) -> None:
    """A cron's job changed to ``state`` at ``now``: mirror it on its run row, if any (the
    scheduler's job-state hook, installed by :mod:`.feature`)."""
    origin = job.get("cron")
    if not isinstance(origin, dict) or not isinstance(origin.get("run"), str):
        return
    run_id = origin["run"]
    if system.normalize_id(RUNS_TABLE, run_id) is None or await system.get(run_id) is None:
        return  # trimmed from the history already
    kind = state["kind"]
    fields: dict[str, Any] = {"state": "running" if kind == "inProgress" else kind}
    if kind == "inProgress":
        fields["startedTime"] = now
    elif kind != "pending":
        fields["completedTime"] = now
        if kind == "failed":
            fields["error"] = str(state.get("error", ""))
    await system.patch(run_id, fields)


async def record_run(
    system: DocumentWriter, name: str, kept: int, run: dict[str, Any]
) -> tuple[str, int]:
    """Insert a run row for cron ``name`` that has ``kept`` runs; returns its id and the
    cron's new ``kept`` count."""
    run_id = await system.insert(RUNS_TABLE, {"cron": name, **run})
    return run_id, kept + 1


async def trim_history(system: DocumentWriter, name: str, kept: int, keep: int = HISTORY) -> int:
    """Delete the oldest runs of cron ``name`` beyond ``keep``; the count left."""
    if kept <= keep:
        return kept
    oldest = await (
        system.query(RUNS_TABLE)
        .with_index(BY_CRON_TICK, lambda q: q.eq("cron", name))
        .take(kept - keep)
    )
    for row in oldest:
        await system.delete(row["_id"])
    return kept - len(oldest)
