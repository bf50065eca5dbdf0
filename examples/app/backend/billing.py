"""Monthly billing: on the 1st at midnight UTC, bill the month that just ended.

The "monthly billing" cron (``crons.py``) runs :func:`process_monthly`. A mutation runs
exactly once per tick, and the ``billing_runs`` row per month makes a second run for the same
month (say, by hand with ``mainspring run billing:process_monthly``) a no-op.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mainspring import Id, MutationCtx, QueryCtx, internal_mutation, internal_query

from .schema import BillingRuns


def _previous_month(now_ms: float) -> tuple[str, float, float]:
    """``("YYYY-MM", start ms, end ms)`` of the calendar month (UTC) before ``now_ms``'s."""
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    end = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (
        end.replace(year=end.year - 1, month=12)
        if end.month == 1
        else end.replace(month=end.month - 1)
    )
    return start.strftime("%Y-%m"), start.timestamp() * 1000, end.timestamp() * 1000


@internal_mutation
async def process_monthly(ctx: MutationCtx) -> Id[BillingRuns]:
    """Total the paid orders of last month into a ``billing_runs`` row; its id."""
    period, start, end = _previous_month(ctx.now_ms())
    done = (
        await ctx.db.query("billing_runs")
        .with_index("by_period", lambda q: q.eq("period", period))
        .unique()
    )
    if done is not None:
        print(f"Billing for {period} already ran")
        billed: Id[BillingRuns] = done["_id"]
        return billed
    orders = total = 0
    async for order in ctx.db.query("orders"):  # creation order: a real app would index
        if start <= order["_creationTime"] < end and order["status"] == "paid":
            orders += 1
            total += order.get("total_cents", 0)
    print(f"Billed {orders} orders for {period}: {total} cents")
    return await ctx.db.insert(
        "billing_runs",
        {"period": period, "orders": orders, "total_cents": total, "ran_at": ctx.now_ms()},
    )


@internal_query
async def runs(ctx: QueryCtx) -> list[dict[str, Any]]:
    """Every billing run, by period."""
    return await ctx.db.query("billing_runs").with_index("by_period").collect()
