"""Workflows — the seed's chain: a mutation, then an action, then a mutation.

``workflows:start_workflow`` records the workflow and schedules ``step2``, an action that
calls an external API — the URL in the deployment variable ``WORKFLOW_API_URL``
(``mainspring env set WORKFLOW_API_URL https://…``) — and schedules ``step3`` with its
answer; ``step3`` marks the workflow completed.
"""

from __future__ import annotations

from typing import Any

import httpx

from mainspring import (
    ActionCtx,
    Id,
    MutationCtx,
    QueryCtx,
    internal,
    internal_action,
    internal_mutation,
    query,
)

from .schema import Workflows


@internal_mutation
async def start_workflow(ctx: MutationCtx, data: Any) -> Id[Workflows]:
    """Step 1: create the workflow record and schedule step 2."""
    workflow_id: Id[Workflows] = await ctx.db.insert(
        "workflows", {"status": "started", "data": data}
    )
    await ctx.scheduler.run_after(0, internal.workflows.step2, {"workflow_id": workflow_id})
    return workflow_id


@internal_action
async def step2(ctx: ActionCtx, workflow_id: Id[Workflows]) -> None:
    """Step 2: call the external API, then schedule step 3 with its result."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(ctx.env["WORKFLOW_API_URL"])
        response.raise_for_status()
        data = response.json()
    await ctx.scheduler.run_after(
        0, internal.workflows.step3, {"workflow_id": workflow_id, "external_data": data}
    )


@internal_mutation
async def step3(ctx: MutationCtx, workflow_id: Id[Workflows], external_data: Any) -> None:
    """Step 3: store the result."""
    await ctx.db.patch(workflow_id, {"status": "completed", "result": external_data})


@query
async def get(ctx: QueryCtx, workflow_id: Id[Workflows]) -> dict[str, Any] | None:
    """A workflow, or None."""
    workflow: dict[str, Any] | None = await ctx.db.get(workflow_id)
    return workflow
