"""Syncing data from an external API every hour — the first seed's ``sync.ts``.

The "sync external data" cron (``crons.py``) runs :func:`external_data`, an action (it calls
out over the network), which hands the JSON to :func:`update_data`, a mutation, to store.
The source is a deployment environment variable, so it can change without a deploy::

    mainspring env set SYNC_SOURCE_URL https://api.example.com/data

A source that fails (unreachable, an HTTP error, not JSON) fails the run, so it shows as
``failed`` with the reason in ``mainspring crons ls``; the stored data stays as it was.
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

from .schema import ExternalData

DEFAULT_SOURCE_URL = "https://api.example.com/data"
TIMEOUT_S = 10.0


class SyncError(RuntimeError):
    """The external source could not be read."""


@internal_action
async def external_data(ctx: ActionCtx) -> Id[ExternalData]:
    """Fetch the source's JSON and store it; the id of the stored row."""
    url = ctx.env.get("SYNC_SOURCE_URL", DEFAULT_SOURCE_URL)
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as http:
            response = await http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        data = response.json()
    except httpx.HTTPStatusError as exc:
        raise SyncError(f"GET {url} answered HTTP {exc.response.status_code}") from None
    except httpx.HTTPError as exc:
        raise SyncError(f"GET {url} failed: {type(exc).__name__}: {exc}") from None
    except ValueError:  # json.JSONDecodeError
        raise SyncError(f"GET {url} did not return JSON") from None
    row_id: Id[ExternalData] = await ctx.run_mutation(
        internal.sync.update_data, {"source": url, "data": data}
    )
    return row_id


@internal_mutation
async def update_data(ctx: MutationCtx, source: str, data: Any) -> Id[ExternalData]:
    """Store ``data`` as the latest from ``source`` (one row per source, replaced)."""
    existing = (
        await ctx.db.query("external_data")
        .with_index("by_source", lambda q: q.eq("source", source))
        .unique()
    )
    if existing is None:
        return await ctx.db.insert(
            "external_data",
            {"source": source, "data": data, "synced_at": ctx.now_ms(), "syncs": 1},
        )
    await ctx.db.patch(
        existing["_id"],
        {"data": data, "synced_at": ctx.now_ms(), "syncs": existing["syncs"] + 1},
    )
    row_id: Id[ExternalData] = existing["_id"]
    return row_id


@query
async def data(ctx: QueryCtx) -> list[dict[str, Any]]:
    """The latest data of every source, with when it was synced."""
    return await ctx.db.query("external_data").collect()
