"""Reminders — the seed's ``runAt`` example: schedule at a time, keep the id, cancel.

``reminders:create`` stores the reminder and the id of its scheduled ``reminders:send``;
``reminders:cancel`` cancels that scheduled function (so it never runs) and deletes the
reminder, in one transaction.
"""

from __future__ import annotations

from typing import Any

from mainspring import (
    AppError,
    Id,
    MutationCtx,
    QueryCtx,
    internal,
    internal_mutation,
    mutation,
    query,
)

from .schema import Reminders


@mutation
async def create(ctx: MutationCtx, message: str, remind_at: float) -> Id[Reminders]:
    """A reminder sent at ``remind_at`` (ms since the epoch)."""
    reminder_id: Id[Reminders] = await ctx.db.insert(
        "reminders", {"message": message, "remind_at": remind_at, "sent": False}
    )
    # Schedule notification for specific time
    scheduled_id = await ctx.scheduler.run_at(
        remind_at, internal.reminders.send, {"reminder_id": reminder_id}
    )
    # Store scheduled job ID for cancellation
    await ctx.db.patch(reminder_id, {"scheduled_id": scheduled_id})
    return reminder_id


@mutation
async def cancel(ctx: MutationCtx, reminder_id: Id[Reminders]) -> None:
    """Cancel a reminder that has not been sent."""
    reminder = await ctx.db.get(reminder_id)
    if reminder is None:
        raise AppError("Reminder not found")
    if reminder.get("scheduled_id"):
        await ctx.scheduler.cancel(reminder["scheduled_id"])
    await ctx.db.delete(reminder_id)


@internal_mutation
async def send(ctx: MutationCtx, reminder_id: Id[Reminders]) -> None:
    """Mark the reminder sent (a real app would notify the user here, from an action)."""
    if await ctx.db.get(reminder_id) is not None:
        await ctx.db.patch(reminder_id, {"sent": True})


@query
async def get(ctx: QueryCtx, reminder_id: Id[Reminders]) -> dict[str, Any] | None:
    """A reminder, or None."""
    reminder: dict[str, Any] | None = await ctx.db.get(reminder_id)
    return reminder
