"""The same email job on the built-in work pool: one line to enqueue, and what the hand-written
queue in ``jobs.py`` lacks — at most 3 emails in flight across every process, jittered
exponential backoff, ``on_complete`` exactly once, and retries when a worker dies mid-send.
"""

from __future__ import annotations

from typing import Any

from mainspring import (
    ActionCtx,
    MutationCtx,
    QueryCtx,
    RetryPolicy,
    WorkId,
    Workpool,
    internal,
    internal_action,
    internal_mutation,
    mutation,
    query,
)

from .job_handlers import handle_send_email

email_pool = Workpool(
    "emails",
    max_parallelism=3,
    retry=RetryPolicy(max_attempts=5, initial_backoff_ms=1000, base=2, jitter=True),
)


@internal_action
async def send_email(ctx: ActionCtx, to: str, subject: str, body: str) -> Any:
    """Send one email through the provider (retried by the pool when it fails)."""
    return await handle_send_email(ctx, {"to": to, "subject": subject, "body": body})


@mutation
async def queue_email(ctx: MutationCtx, to: str, subject: str, body: str) -> WorkId:
    """Queue an email; returns its work id (``email_status`` follows it)."""
    return await email_pool.enqueue_action(
        ctx,
        internal.pools.send_email,
        {"to": to, "subject": subject, "body": body},
        on_complete=internal.pools.email_sent,
        context={"to": to},
    )


@internal_mutation
async def email_sent(ctx: MutationCtx, work_id: str, context: Any, result: Any) -> None:
    """The pool's ``on_complete``: record how the email ended (exactly once per email)."""
    await ctx.db.insert("sent_emails", {"work_id": work_id, "to": context["to"], "result": result})


@query
async def email_status(ctx: QueryCtx, work_id: WorkId) -> Any:
    """Pending or running (with failed attempts so far), or finished with its result."""
    return await email_pool.status(ctx, work_id)


@query
async def sent_emails(ctx: QueryCtx) -> list[dict[str, Any]]:
    """Every recorded email outcome."""
    rows: list[dict[str, Any]] = await ctx.db.query("sent_emails").collect()
    return rows
