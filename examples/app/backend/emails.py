"""Emails — an action, so it may call out to a mail service; here it writes an outbox row."""

from __future__ import annotations

from typing import Any

from mainspring import (
    ActionCtx,
    Id,
    MutationCtx,
    QueryCtx,
    internal,
    internal_action,
    internal_mutation,
    internal_query,
)

from .schema import Orders


@internal_action
async def send_order_confirmation(ctx: ActionCtx, order_id: Id[Orders]) -> None:
    """Confirm a paid order (scheduled by ``orders:create`` a second after the order)."""
    status = await ctx.run_query(internal.emails.order_status, {"order_id": order_id})
    if status == "paid":
        await ctx.run_mutation(
            internal.emails.record, {"order_id": order_id, "kind": "confirmation"}
        )


@internal_query
async def order_status(ctx: QueryCtx, order_id: Id[Orders]) -> str | None:
    """The order's status (None if it is gone)."""
    order = await ctx.db.get(order_id)
    return None if order is None else str(order["status"])


@internal_mutation
async def record(ctx: MutationCtx, order_id: Id[Orders], kind: str) -> None:
    """Write the outbox row of a sent email."""
    await ctx.db.insert("emails", {"order_id": order_id, "kind": kind})


@internal_query
async def for_order(ctx: QueryCtx, order_id: Id[Orders]) -> list[str]:
    """The kinds of email sent for an order."""
    rows = (
        await ctx.db.query("emails")
        .with_index("by_order", lambda q: q.eq("order_id", order_id))
        .collect()
    )
    return [row["kind"] for row in rows]


WEEK_MS = 7 * 24 * 60 * 60 * 1000


@internal_mutation
async def send_weekly_digest(ctx: MutationCtx) -> int:
    """The "weekly digest" cron (Mondays 09:00 UTC): a digest of the past week's notes to
    every user, written to the ``digests`` outbox; how many notes it covered."""
    now = ctx.now_ms()
    week_start = now - WEEK_MS
    notes = 0
    # Newest first through the creation order: stop at the first note older than a week.
    async for note in ctx.db.query("notes").order("desc"):
        if note["_creationTime"] < week_start:
            break
        notes += 1
    recipients = len(await ctx.db.query("users").collect())
    await ctx.db.insert(
        "digests",
        {"week_start": week_start, "recipients": recipients, "notes": notes, "sent_at": now},
    )
    print(f"Weekly digest: {notes} notes to {recipients} users")
    return notes


@internal_query
async def digests(ctx: QueryCtx) -> list[dict[str, Any]]:
    """The weekly digests sent, oldest first."""
    return await ctx.db.query("digests").collect()
