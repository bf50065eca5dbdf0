"""The seed's "Background Jobs Pattern", ported as plain user code on Mainspring's primitives.

A ``jobs`` row tracks each job; ``enqueue`` inserts it and schedules ``process``, which marks
it processing and schedules ``execute`` (an action: it may call the network), which routes
to a handler and reports to ``complete`` or ``fail``; ``fail`` retries with exponential
backoff (2^attempts seconds) until ``max_attempts``. ``pools.py`` does the same with the
built-in work pool in a line, plus what this lacks: a cap on parallelism, jitter,
``on_complete``, and recovery when a worker dies mid-job.
"""

from __future__ import annotations

from typing import Any

from mainspring import (
    ActionCtx,
    AppError,
    Id,
    MutationCtx,
    QueryCtx,
    internal,
    internal_action,
    internal_mutation,
    internal_query,
    mutation,
    query,
)

from .job_handlers import handle_process_image, handle_send_email
from .schema import Jobs

MAX_ATTEMPTS = 3


@mutation
async def enqueue(
    ctx: MutationCtx, type: str, payload: Any, delay: float | None = None
) -> Id[Jobs]:
    """Create a job and schedule its processing (after ``delay`` ms)."""
    job_id: Id[Jobs] = await ctx.db.insert(
        "jobs",
        {
            "type": type,
            "status": "pending",
            "payload": payload,
            "attempts": 0,
            "max_attempts": MAX_ATTEMPTS,
            "scheduled_at": ctx.now_ms() + (delay or 0),
        },
    )
    await ctx.scheduler.run_after(delay or 0, internal.jobs.process, {"job_id": job_id})
    return job_id


@internal_mutation
async def process(ctx: MutationCtx, job_id: Id[Jobs]) -> None:
    """Mark a pending job processing (one more attempt) and schedule the work."""
    job = await ctx.db.get(job_id)
    if job is None or job["status"] != "pending":
        return
    await ctx.db.patch(
        job_id,
        {
            "status": "processing",
            "started_at": ctx.now_ms(),
            "attempts": job["attempts"] + 1,
        },
    )
    await ctx.scheduler.run_after(0, internal.jobs.execute, {"job_id": job_id})


@internal_action
async def execute(ctx: ActionCtx, job_id: Id[Jobs]) -> None:
    """Run the job's handler; report the result or the error."""
    job = await ctx.run_query(internal.jobs.get, {"id": job_id})
    if job is None:
        return
    try:
        if job["type"] == "send_email":
            result = await handle_send_email(ctx, job["payload"])
        elif job["type"] == "process_image":
            result = await handle_process_image(ctx, job["payload"])
        else:
            raise AppError(f"Unknown job type: {job['type']}")
        await ctx.run_mutation(internal.jobs.complete, {"job_id": job_id, "result": result})
    except Exception as error:
        await ctx.run_mutation(internal.jobs.fail, {"job_id": job_id, "error": str(error)})


@internal_query
async def get(ctx: QueryCtx, id: Id[Jobs]) -> dict[str, Any] | None:
    """A job."""
    job: dict[str, Any] | None = await ctx.db.get(id)
    return job


@internal_mutation
async def complete(ctx: MutationCtx, job_id: Id[Jobs], result: Any) -> None:
    """Record a job's success."""
    await ctx.db.patch(
        job_id,
        {"status": "completed", "result": result, "completed_at": ctx.now_ms()},
    )


@internal_mutation
async def fail(ctx: MutationCtx, job_id: Id[Jobs], error: str) -> None:
    """Retry a failed job with exponential backoff, or give up after ``max_attempts``."""
    job = await ctx.db.get(job_id)
    if job is None:
        return
    if job["attempts"] < job["max_attempts"]:
        delay = 2 ** job["attempts"] * 1000
        await ctx.db.patch(job_id, {"status": "pending", "error": error})
        await ctx.scheduler.run_after(delay, internal.jobs.process, {"job_id": job_id})
    else:
        await ctx.db.patch(
            job_id,
            {"status": "failed", "error": error, "completed_at": ctx.now_ms()},
        )


@query
async def list_by_status(
    ctx: QueryCtx, status: str, type: str | None = None
) -> list[dict[str, Any]]:
    """Jobs in ``status`` (of one ``type``), through the seed's two indexes."""
    if type is None:
        query = ctx.db.query("jobs").with_index("by_status", lambda q: q.eq("status", status))
    else:
        query = ctx.db.query("jobs").with_index(
            "by_type_status", lambda q: q.eq("type", type).eq("status", status)
        )
    rows: list[dict[str, Any]] = await query.collect()
    return rows
