"""What crons bring to a deployment: ``_cron_jobs``, ``_cron_runs``, the
``_system/crons:*`` functions, and a hook on the scheduler that keeps each run's history in
step with its scheduled function's state."""

from __future__ import annotations

from typing import Any

from ..features import Feature, SystemTable
from .history import record_job_state
from .system import SYSTEM_FUNCTIONS
from .tables import BY_CRON_TICK, BY_NAME, BY_NEXT_RUN, JOBS_TABLE, RUNS_TABLE

__all__ = ["FEATURE"]


def _install(runtime: Any) -> None:
    runtime.scheduling.on_job_state(record_job_state)


FEATURE = Feature(
    "crons",
    tables=[
        SystemTable(JOBS_TABLE, 3, {BY_NAME: ("name",), BY_NEXT_RUN: ("nextRun",)}),
        SystemTable(RUNS_TABLE, 4, {BY_CRON_TICK: ("cron", "tick")}),
    ],
    functions=SYSTEM_FUNCTIONS,
    install=_install,
)
