"""Messages in channels: what the live-query tests subscribe to and write."""

from __future__ import annotations

import builtins
from typing import Any

from mainspring import AppError, MutationCtx, QueryCtx, mutation, query


async def _author(ctx: QueryCtx | MutationCtx) -> str:
    identity = await ctx.auth.get_user_identity()
    return "anon" if identity is None else str(identity.subject)


async def _bodies(ctx: QueryCtx, channel: str) -> builtins.list[str]:
    rows = (
        await ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .collect()
    )
    return [row["body"] for row in rows]


@query
async def count(ctx: QueryCtx, channel: str, body: str | None = None) -> int:
    """How many messages the channel has (only those with ``body``, if given)."""
    rows = (
        await ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .collect()
    )
    return sum(1 for row in rows if body is None or row["body"] == body)


@mutation
async def send(ctx: MutationCtx, channel: str, body: str) -> str:
    """Add a message as the caller (``anon`` without a token); returns its id."""
    print("sending", body)
    return await ctx.db.insert(
        "messages", {"channel": channel, "body": body, "author": await _author(ctx)}
    )


@query
async def authors(ctx: QueryCtx, channel: str) -> builtins.list[str]:
    """Who wrote each of the channel's messages, oldest first."""
    rows = (
        await ctx.db.query("messages")
        .with_index("by_channel", lambda q: q.eq("channel", channel))
        .collect()
    )
    return [row["author"] for row in rows]


@mutation
async def reject(ctx: MutationCtx, channel: str, body: str) -> None:
    """Write, then fail with structured data: the write must not commit."""
    await ctx.db.insert("messages", {"channel": channel, "body": body, "author": "reject"})
    raise AppError({"code": "REJECTED", "body": body, "big": 2**60})


@query
async def guarded(ctx: QueryCtx, channel: str) -> builtins.list[str]:
    """The bodies, or an AppError once the channel holds a message "poison"."""
    bodies = await _bodies(ctx, channel)
    if "poison" in bodies:
        raise AppError({"code": "POISONED", "count": len(bodies)})
    return bodies


@query
async def whoami(ctx: QueryCtx) -> dict[str, Any] | None:
    """The caller's identity (subject, issuer, name, tokenIdentifier) or None."""
    identity = await ctx.auth.get_user_identity()
    if identity is None:
        return None
    data = identity.to_dict()
    return {k: data[k] for k in ("subject", "issuer", "tokenIdentifier", "name") if k in data}


# ``list`` (Convex's usual name) shadows the builtin in this module: hints say builtins.list.
@query
async def list(ctx: QueryCtx, channel: str) -> builtins.list[str]:
    """The channel's message bodies, oldest first."""
    return await _bodies(ctx, channel)
