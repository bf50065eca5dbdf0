"""The ``_scheduled_functions`` system table: its rows, states and time arithmetic.

A row, as ``ctx.db.system.get(id)`` returns it (Convex's shape, so it travels unchanged to
JS clients)::

    {
        "_id": "…", "_creationTime": 1700000000000.0,
        "name": "orders:process_payment",       # the function's path
        "args": [{"order_id": "…"}],             # a one-element list, as in Convex
        "scheduledTime": 1700000000000.0,        # ms since the epoch
        "state": {"kind": "pending"},            # | inProgress | success | canceled
                                                 # | {"kind": "failed", "error": "…"}
        "completedTime": 1700000000123.0,        # once success / failed / canceled
        "lease": {"owner": "…", "expires": …},   # Mainspring's: while a process runs it
    }

Life of a row: ``pending`` → (claimed by an executor) ``inProgress`` → ``success`` or
``failed``; ``cancel`` turns ``pending`` or ``inProgress`` into ``canceled``. A claimed
mutation whose process died goes back to ``pending`` (its writes never committed, so running
it again is still exactly once); a claimed action whose process died becomes ``failed`` with
:data:`DIED_ERROR` (at most once: never run again).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict, cast

from ..errors import ValidationError
from ..ids import Id
from ..lease.store import Lease

__all__ = [
    "DIED_ERROR",
    "FINISHED",
    "MAX_ARGS_BYTES",
    "MAX_PER_CALL",
    "NOTIFY_CHANNEL",
    "STATE_INDEX",
    "TABLE",
    "Lease",
    "ScheduledFunctionId",
    "ScheduledFunctionRow",
    "State",
    "StateValue",
    "current_job",
    "delay_ms",
    "failed",
    "scheduled_row",
    "state",
    "time_ms",
]

TABLE = "_scheduled_functions"
#: Index on ``("state.kind", "scheduledTime")``: due work, running work, ``ls --state``.
STATE_INDEX = "by_state"
#: Index on ``("completedTime",)``: retention.
COMPLETED_INDEX = "by_completed_time"
#: Channel on which scheduling transactions announce the earliest time they added.
NOTIFY_CHANNEL = "scheduler"
#: At most this many functions scheduled by one function execution …
MAX_PER_CALL = 1000
#: … with at most this many bytes of arguments in total.
MAX_ARGS_BYTES = 16 * 1024 * 1024
DIED_ERROR = "the process running this action died (its lease expired) while it was running"
STOPPED_ERROR = "the process running this action stopped before it finished"

if TYPE_CHECKING:
    ScheduledFunctionId = Id[Any]
else:
    #: The id of a ``_scheduled_functions`` row (what ``run_after`` / ``run_at`` return).
    ScheduledFunctionId = Id["_scheduled_functions"]

State = Literal["pending", "inProgress", "success", "failed", "canceled"]


class StateValue(TypedDict):
    """A row's ``state``: its kind, and the error of a failed run."""

    kind: State
    error: NotRequired[str]


class ScheduledFunctionRow(TypedDict):
    """A ``_scheduled_functions`` document (the shape in the module docstring)."""

    _id: str
    _creationTime: float
    name: str
    args: list[Any]
    scheduledTime: float
    state: StateValue
    completedTime: NotRequired[float]
    lease: NotRequired[Lease]
    #: A cron's firing: ``{"name", "run"}`` of its ``_cron_runs`` row.
    cron: NotRequired[dict[str, Any]]


def scheduled_row(document: Mapping[str, Any]) -> ScheduledFunctionRow:
    """A document read from ``_scheduled_functions``, as its typed row (every write to the
    table goes through this package, which keeps that shape)."""
    return cast(ScheduledFunctionRow, document)


STATES: tuple[State, ...] = ("pending", "inProgress", "success", "failed", "canceled")
FINISHED: tuple[State, ...] = ("success", "failed", "canceled")

#: The scheduled job whose action is running in this task (its own scheduling is checked
#: against it: a canceled running action schedules only canceled functions).
current_job: ContextVar[str | None] = ContextVar("mainspring_scheduled_job", default=None)


def state(kind: State) -> StateValue:
    """A ``state`` value without details."""
    return {"kind": kind}


def failed(error: str) -> StateValue:
    """The ``state`` of a failed run."""
    return {"kind": "failed", "error": error}


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(
            f"{what} must be a number of milliseconds or a "
            f"{'timedelta' if what == 'delay' else 'datetime'}, got {type(value).__name__}"
        )
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(f"{what} must be finite, got {value!r}")
    return number


def delay_ms(delay: float | timedelta) -> float:
    """A ``run_after`` delay in milliseconds; ValidationError if negative or not finite."""
    if isinstance(delay, timedelta):
        delay = delay.total_seconds() * 1000.0
    ms = _finite(delay, "delay")
    if ms < 0:
        raise ValidationError(f"delay must not be negative, got {ms:g} ms")
    return ms


def time_ms(when: float | datetime) -> float:
    """A ``run_at`` time in ms since the epoch; a naive datetime is refused (ambiguous)."""
    if isinstance(when, datetime):
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValidationError(
                "run_at needs an aware datetime (e.g. datetime.now(UTC) + …); a naive one "
                "does not say which time zone it is in"
            )
        return when.timestamp() * 1000.0
    return _finite(when, "time")
