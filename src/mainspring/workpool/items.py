"""The work pools' system tables, ``_workpools`` and ``_workpool_items``, and their shapes.

A pool row: ``{"name": "emails", "maxParallelism": 3, "declared": 3}`` — ``declared`` is
what the code said when the row was last reconciled, so an operator's change made at run
time (``mainspring jobs parallelism``) survives restarts until the code's value changes.

A work item, as ``ctx.db.system.get(id)`` returns it::

    {
        "pool": "emails", "name": "emails:send", "kind": "action", "args": {...},
        "status": "pending",               # | "running" | "finished"
        "runAt": 1700000000000.0,          # when it may start (next attempt, after backoff)
        "attempts": 0,                     # failed attempts so far
        "retry": {"maxAttempts": 5, ...},  # absent: no retries
        "onComplete": "emails:sent", "context": {...},   # both optional
        "lease": {"owner": "…", "expires": …},           # while running
        "cancelRequested": True,           # canceled while running: finishes as canceled
        "lastError": "…",                  # the latest failed attempt's error
        "result": {"kind": "success", "returnValue": …}  # once finished
                | {"kind": "failed", "error": "…"} | {"kind": "canceled"},
        "completedTime": 1700000000123.0,  # once finished
    }

Life of an item: ``pending`` → (claimed) ``running`` → ``finished``, or back to ``pending``
with a later ``runAt`` after a failure its policy retries. Every change of ``status`` or
``runAt`` moves the ``by_pool_status`` index entry, which is what claims lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict, cast

from ..db.query import IndexRangeBuilder
from ..ids import Id
from ..lease.store import Lease

__all__ = [
    "DIED_ERROR",
    "ITEMS",
    "NOTIFY_CHANNEL",
    "POOLS",
    "POOL_INDEX",
    "STATUSES",
    "STATUS_INDEX",
    "STOPPED_ERROR",
    "PoolRow",
    "Status",
    "WorkId",
    "WorkItemRow",
    "WorkResult",
    "WorkStatus",
    "canceled",
    "failed",
    "item_row",
    "pool_key_range",
    "public_status",
    "status_range",
    "success",
]

POOLS = "_workpools"
ITEMS = "_workpool_items"
#: ``_workpools`` on ``("name",)``.
POOL_INDEX = "by_name"
#: ``_workpool_items`` on ``("pool", "status", "runAt")``: due work, running work per pool.
STATUS_INDEX = "by_pool_status"
_STATUS_FIELDS = ("pool", "status", "runAt")
#: Enqueueing transactions announce the earliest ``runAt`` they added on this channel.
NOTIFY_CHANNEL = "workpool"
DIED_ERROR = "the process running this work item died (its lease expired) while it was running"
STOPPED_ERROR = "the process running this work item stopped before it finished"

Status = Literal["pending", "running", "finished"]
STATUSES: tuple[Status, ...] = ("pending", "running", "finished")

if TYPE_CHECKING:
    WorkId = Id[Any]
else:
    #: The id of a ``_workpool_items`` row (what ``enqueue_*`` return).
    WorkId = Id["_workpool_items"]


class WorkResult(TypedDict):
    """How a work item ended, as ``on_complete`` receives it (Convex's shape)."""

    kind: Literal["success", "failed", "canceled"]
    returnValue: NotRequired[Any]
    error: NotRequired[str]


class WorkStatus(TypedDict):
    """``Workpool.status``: pending or running (with failed attempts so far), or finished."""

    state: Status
    previousAttempts: NotRequired[int]
    result: NotRequired[WorkResult]


class WorkItemRow(TypedDict):
    """A ``_workpool_items`` document (the shape in the module docstring)."""

    _id: str
    _creationTime: float
    pool: str
    name: str
    kind: Literal["mutation", "action"]
    args: dict[str, Any]
    status: Status
    runAt: float
    attempts: int
    retry: NotRequired[dict[str, Any]]
    onComplete: NotRequired[str]
    context: NotRequired[Any]
    lease: NotRequired[Lease]
    startedTime: NotRequired[float]
    cancelRequested: NotRequired[bool]
    lastError: NotRequired[str]
    result: NotRequired[WorkResult]
    completedTime: NotRequired[float]
    retryOf: NotRequired[str]


class PoolRow(TypedDict):
    """A ``_workpools`` document: the cap now, and the one the code declared."""

    _id: str
    _creationTime: float
    name: str
    maxParallelism: int
    declared: NotRequired[int]


def item_row(document: Mapping[str, Any]) -> WorkItemRow:
    """A document read from ``_workpool_items``, as its typed row (every write to the table
    goes through this package, which keeps that shape)."""
    return cast(WorkItemRow, document)


def success(value: Any) -> WorkResult:
    """The result of work that returned ``value``."""
    return {"kind": "success", "returnValue": value}


def failed(error: str) -> WorkResult:
    """The result of work that failed for good."""
    return {"kind": "failed", "error": error}


def canceled() -> WorkResult:
    """The result of canceled work."""
    return {"kind": "canceled"}


def status_range(
    pool: str, status: Status, *, through: float | None = None, after: float | None = None
) -> tuple[bytes, bytes | None]:
    """Index bounds of a pool's items in ``status`` (``runAt`` ≤ ``through``, > ``after``)."""
    builder = IndexRangeBuilder(STATUS_INDEX, _STATUS_FIELDS).eq("pool", pool).eq("status", status)
    if through is not None:
        builder = builder.lte("runAt", through)
    if after is not None:
        builder = builder.gt("runAt", after)
    return builder.bounds()


def pool_key_range(name: str) -> tuple[bytes, bytes | None]:
    """Index bounds of the ``_workpools`` row named ``name``."""
    return IndexRangeBuilder(POOL_INDEX, ("name",)).eq("name", name).bounds()


def public_status(row: WorkItemRow | None) -> WorkStatus:
    """What ``Workpool.status`` reports for an item row (None: pruned long after it finished)."""
    if row is None:
        return {"state": "finished"}
    if row["status"] == "finished" and "result" in row:
        return {"state": "finished", "result": row["result"]}
    return {"state": row["status"], "previousAttempts": int(row.get("attempts", 0))}
