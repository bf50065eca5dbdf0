"""Built-in functions behind ``mainspring jobs …`` (admin only).

``_system/workpool:list`` reads work items newest first (optionally one pool, one status);
``pools`` lists the pools with their caps and how much is pending and running;
``cancel`` cancels one item as ``Workpool.cancel`` does; ``retry`` enqueues a fresh copy of a
failed or canceled item (a new id: the original stays as it finished, so every item's
``on_complete`` still runs once); ``set_parallelism`` changes a pool's cap at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ValidationError
from ..functions import system_function
from .items import ITEMS, POOLS, STATUS_INDEX, STATUSES, item_row, status_range

__all__ = ["SYSTEM_FUNCTIONS"]

MAX_LIST = 1000
_COUNT_LIMIT = 100_000
_COPIED = ("pool", "name", "kind", "args", "retry", "onComplete", "context")


async def _item(ctx: Any, item_id: str) -> dict[str, Any]:
    system = ctx.db.system
    if system.normalize_id(ITEMS, item_id) is None:
        raise ValidationError(f"{item_id!r} is not a work item id")
    row: dict[str, Any] | None = await system.get(item_id)
    if row is None:
        raise ValidationError(f"no work item {item_id} (finished ones are pruned in time)")
    return row


@system_function("query")
async def list_items(
    ctx: Any, pool: str | None = None, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Work items, newest first, filtered by pool and status."""
    if status is not None and status not in STATUSES:
        raise ValidationError(f"unknown status {status!r} (statuses: {', '.join(STATUSES)})")
    if not 1 <= limit <= MAX_LIST:
        raise ValidationError(f"limit must be between 1 and {MAX_LIST}")
    query = ctx.db.system.query(ITEMS)
    if pool is not None and status is not None:
        query = query.with_index(STATUS_INDEX, lambda q: q.eq("pool", pool).eq("status", status))
    query = query.order("desc")
    if pool is not None and status is None:
        query = query.filter(lambda row: row["pool"] == pool)
    elif pool is None and status is not None:
        query = query.filter(lambda row: row["status"] == status)
    rows: list[dict[str, Any]] = await query.take(limit)
    return rows


@system_function("query")
async def list_pools(ctx: Any) -> list[dict[str, Any]]:
    """Every pool: name, cap, declared cap, and how many items are pending and running."""
    system = ctx.db.system
    items = await system.index_for(ITEMS, STATUS_INDEX)
    out = []
    for pool in await system.query(POOLS).collect():
        counts = {}
        for status in ("pending", "running"):
            lo, hi = status_range(pool["name"], status)
            counts[status] = 0 if items is None else await system.count(items, lo, hi, _COUNT_LIMIT)
        out.append(
            {
                "name": pool["name"],
                "maxParallelism": pool["maxParallelism"],
                "declared": pool.get("declared"),
                **counts,
            }
        )
    return sorted(out, key=lambda p: str(p["name"]))


@system_function("mutation")
async def cancel_item(ctx: Any, id: str) -> str:
    """Cancel one work item; returns the status it had (only pending and running change)."""
    from .pool import cancel_row

    row = await _item(ctx, id)
    await cancel_row(ctx.runtime, ctx.db, item_row(row))
    return str(row["status"])


@system_function("mutation")
async def retry_item(ctx: Any, id: str) -> str:
    """Enqueue a copy of a failed or canceled item, due now; returns the new work id."""
    row = await _item(ctx, id)
    result = row.get("result") or {}
    if row["status"] != "finished" or result.get("kind") == "success":
        state = row["status"] if row["status"] != "finished" else "finished successfully"
        raise ValidationError(
            f"work item {id} is {state}: only failed or canceled items can be retried"
        )
    now = ctx.runtime.clock.now_ms()
    copy = {key: row[key] for key in _COPIED if key in row}
    copy.update({"status": "pending", "runAt": now, "attempts": 0, "retryOf": id})
    new_id: str = await ctx.db.system_writer().insert(ITEMS, copy)
    await ctx.runtime.workpools.announce_on_commit(ctx.db, now)
    return new_id


@system_function("mutation")
async def set_parallelism(ctx: Any, pool: str, max_parallelism: int) -> int:
    """Set a pool's cap (0 pauses it); returns the previous value. It holds until the code's
    declared value changes."""
    from .hub import find_pool

    if not 0 <= max_parallelism <= 10_000:
        raise ValidationError(f"max_parallelism must be 0 (paused) to 10000, got {max_parallelism}")
    row = await find_pool(ctx.db, pool)
    if row is None:
        raise ValidationError(f"no work pool {pool!r} (pools appear when first used or declared)")
    await ctx.db.system_writer().patch(row["_id"], {"maxParallelism": max_parallelism})
    # Dispatchers blocked by the old cap look again now.
    await ctx.runtime.workpools.announce_on_commit(ctx.db, float("-inf"))
    return int(row["maxParallelism"])


#: Registered into every app by :class:`~mainspring.workpool.hub.WorkpoolHub`.
SYSTEM_FUNCTIONS: Mapping[str, Any] = {
    "_system/workpool:list": list_items,
    "_system/workpool:pools": list_pools,
    "_system/workpool:cancel": cancel_item,
    "_system/workpool:retry": retry_item,
    "_system/workpool:set_parallelism": set_parallelism,
}
