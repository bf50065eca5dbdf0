"""Ending a work item: the one place that writes ``finished`` and calls ``on_complete``.

Both run in the caller's transaction — the dispatcher's, when an attempt ends; the user's
mutation, when it cancels pending work — so an item is marked finished and its ``on_complete``
mutation runs together or not at all: exactly once per item. If ``on_complete`` itself
raises, its writes must not stick but the item must still finish: :class:`OnCompleteFailed`
tells the caller to run the transaction again with the callback skipped and its error noted.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING, Any

from ..auth import Auth
from ..db.store import REMOVE, DocumentWriter
from ..errors import DatabaseError
from ..lease.runner import error_text
from .items import ITEMS, WorkItemRow, WorkResult, canceled
from .policy import RetryPolicy

if TYPE_CHECKING:
    from .hub import PoolsKernel

__all__ = ["OnCompleteFailed", "complete", "run_callback", "settle"]

log = logging.getLogger("mainspring.workpool")

_rng = random.Random()


class OnCompleteFailed(Exception):
    """An item's ``on_complete`` mutation raised; rerun the transaction without it."""

    def __init__(self, item_id: str, error: str) -> None:
        super().__init__(f"on_complete of work item {item_id} failed: {error}")
        self.item_id = item_id
        self.error = error


async def run_callback(kernel: PoolsKernel, writer: DocumentWriter, path: str, args: Any) -> None:
    """Run the mutation at ``path`` inside ``writer``'s transaction, with no identity."""
    definition = kernel.resolve(path)
    await kernel.mutation_body(definition, args, Auth())(writer)


async def complete(
    kernel: PoolsKernel,
    writer: DocumentWriter,
    row: WorkItemRow,
    result: WorkResult,
    *,
    skip_callback: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Mark ``row`` finished with ``result`` and run its ``on_complete`` (in this transaction).

    ``skip_callback`` is the error of an earlier try whose ``on_complete`` raised: the item
    is finished without calling it again, and the error is kept in ``onCompleteError``."""
    item_id = row["_id"]
    fields: dict[str, Any] = {
        "status": "finished",
        "result": result,
        "completedTime": kernel.clock.now_ms(),
        "lease": REMOVE,
        "cancelRequested": REMOVE,
        **(extra or {}),
    }
    path = row.get("onComplete")
    if path is not None and skip_callback is not None:
        fields["onCompleteError"] = skip_callback
    await writer.system_writer().patch(item_id, fields)
    if path is None or skip_callback is not None:
        return
    args = {"work_id": item_id, "context": row.get("context"), "result": result}
    try:
        await run_callback(kernel, writer, path, args)
    except DatabaseError:
        raise  # conflicts and outages: the whole transaction is retried
    except Exception as exc:
        log.warning("on_complete %s of work item %s failed: %s", path, item_id, exc)
        raise OnCompleteFailed(item_id, error_text(exc)) from exc


async def settle(
    kernel: PoolsKernel,
    writer: DocumentWriter,
    row: WorkItemRow,
    result: WorkResult,
    *,
    retryable: bool,
    skip_callback: str | None = None,
) -> None:
    """Record how an attempt of running ``row`` ended: retry it later if it failed and its
    policy allows, else finish it (``canceled`` if a cancel arrived while it ran)."""
    if row.get("cancelRequested"):
        await complete(kernel, writer, row, canceled(), skip_callback=skip_callback)
        return
    if result["kind"] != "failed":
        await complete(kernel, writer, row, result, skip_callback=skip_callback)
        return
    attempts = int(row.get("attempts", 0)) + 1
    policy = RetryPolicy.from_row(row["retry"]) if row.get("retry") else None
    if retryable and policy is not None and attempts < policy.max_attempts:
        run_at = kernel.clock.now_ms() + policy.backoff_ms(attempts, _rng)
        await writer.system_writer().patch(
            row["_id"],
            {
                "status": "pending",
                "runAt": run_at,
                "attempts": attempts,
                "lastError": result.get("error", ""),
                "lease": REMOVE,
            },
        )
        await kernel.workpools.announce_on_commit(writer, run_at)
        return
    extra = {"attempts": attempts, "lastError": result.get("error", "")}
    await complete(kernel, writer, row, result, skip_callback=skip_callback, extra=extra)


def is_item(writer: DocumentWriter, item_id: Any) -> bool:
    """True if ``item_id`` is a well-formed id of a work item."""
    return isinstance(item_id, str) and writer.system.normalize_id(ITEMS, item_id) is not None
