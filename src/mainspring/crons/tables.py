"""The cron system tables, as rows.

``_cron_jobs`` holds one row per cron, by unique name (what start-up reconciliation keeps in
step with ``backend/crons.py``)::

    {
        "name": "check for updates",
        "function": "updates:check", "args": {},
        "schedule": {"kind": "calendar", "expression": "*/15 * * * *", "tz": "UTC"},
                  # | {"kind": "interval", "everyMs": 60000}
        "anchor": 1700000000000.0,   # intervals tick at anchor + k * everyMs
        "catchUp": "skip",           # | "latest" | "all"
        "spec": "…",                 # all of the above, canonical: what reconciliation compares
        "nextRun": 1700000100000.0,  # the first tick not yet decided
        "lastJob": "…",              # the _scheduled_functions row of the latest firing
        "kept": 12,                  # how many _cron_runs rows it has (history is trimmed)
    }

``_cron_runs`` is the history, one row per decided tick, unique by ``(cron, tick)``::

    {"cron": "check for updates", "tick": 1700000100000.0, "firedTime": …,
     "state": "scheduled" | "running" | "success" | "failed" | "canceled" | "skipped",
     "startedTime": …, "completedTime": …, "error": "…",
     "reason": "…", "missed": 3}     # skipped rows: why, and how many ticks they stand for
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict, cast

__all__ = [
    "BY_CRON_TICK",
    "CronJobRow",
    "CronRunRow",
    "BY_NAME",
    "BY_NEXT_RUN",
    "HISTORY",
    "JOBS_TABLE",
    "MAX_CATCH_UP",
    "ON_TIME_MS",
    "RUNS_TABLE",
    "SYSTEM_CRON_PREFIX",
    "cron_row",
]

JOBS_TABLE = "_cron_jobs"
RUNS_TABLE = "_cron_runs"
BY_NAME = "by_name"
BY_NEXT_RUN = "by_next_run"
BY_CRON_TICK = "by_cron_tick"
#: Runs kept per cron; older ones are deleted as new ones are recorded.
HISTORY = 50
#: With ``catch_up="skip"``, a tick is still run if it is at most this late (a process that
#: was busy or restarting); an older one was missed and is skipped.
ON_TIME_MS = 60_000.0
#: With ``catch_up="all"``, at most this many missed ticks are run; older ones are skipped.
MAX_CATCH_UP = 100
#: Names of Mainspring's own crons (user crons may not use it).
SYSTEM_CRON_PREFIX = "_system/"


CronRunState = Literal["scheduled", "running", "success", "failed", "canceled", "skipped"]


class CronJobRow(TypedDict):
    """A ``_cron_jobs`` document (the shape in the module docstring)."""

    _id: str
    _creationTime: float
    name: str
    function: str
    args: dict[str, Any]
    schedule: dict[str, Any]
    anchor: NotRequired[float]
    catchUp: Literal["skip", "latest", "all"]
    spec: str
    nextRun: float
    lastJob: NotRequired[str]
    kept: NotRequired[int]


class CronRunRow(TypedDict):
    """A ``_cron_runs`` document: one decided tick of a cron."""

    _id: str
    _creationTime: float
    cron: str
    tick: float
    firedTime: float
    state: CronRunState
    startedTime: NotRequired[float]
    completedTime: NotRequired[float]
    error: NotRequired[str]
    reason: NotRequired[str]
    missed: NotRequired[int]


def cron_row(document: Mapping[str, Any]) -> CronJobRow:
    """A document read from ``_cron_jobs``, as its typed row (only this package writes it)."""
    return cast(CronJobRow, document)
