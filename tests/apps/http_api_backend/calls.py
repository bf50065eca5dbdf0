"""Functions the HTTP API tests (Python and the official JS client) call over HTTP."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mainspring import (
    AppError,
    action,
    api,
    internal,
    internal_query,
    mutation,
    query,
)
from mainspring.context import scope_of

log = logging.getLogger("http_api_backend")


@query
async def echo(ctx: Any, value: Any) -> Any:
    """Return the argument unchanged (round-trips every Convex value)."""
    return value


@query
async def add(ctx: Any, a: int, b: int = 1) -> int:
    """Add two integers."""
    return a + b


@query
async def shift(ctx: Any, n: int) -> int:
    """n + 2**60: an integer beyond 2**53, so it travels as {"$integer"} (a JS bigint)."""
    return n + 2**60


@mutation
async def send(ctx: Any, body: str, author: str = "anon") -> str:
    """Insert a message, printing and logging on the way; returns its id."""
    print("sending", body)
    log.warning("about to insert %s", body)
    return await ctx.db.insert("messages", {"body": body, "author": author})


@mutation
async def send_slowly(ctx: Any, body: str, pause_ms: int) -> str:
    """Insert a message; return ``pause_ms`` after the commit (after-commit work that long)."""

    async def pause() -> None:
        await asyncio.sleep(pause_ms / 1000)

    # A test device, not user API: Mainspring's internal writer behind this ctx.
    scope_of(ctx).writer.writes.after_commit.append(pause)
    return await ctx.db.insert("messages", {"body": body, "author": "slow"})


@query
async def list_messages(ctx: Any) -> list[str]:
    """Bodies of all messages, oldest first."""
    return [m["body"] for m in await ctx.db.query("messages").collect()]


@action
async def send_and_count(ctx: Any, body: str) -> int:
    """An action: a mutation, then an internal query."""
    await ctx.run_mutation(api.calls.send, {"body": body, "author": "action"})
    return int(await ctx.run_query(internal.calls.count))


@internal_query
async def count(ctx: Any) -> int:
    """Internal: the number of messages."""
    return len(await ctx.db.query("messages").collect())


@query
async def fail_with(ctx: Any, data: Any) -> None:
    """Raise an AppError carrying ``data``."""
    print("failing on purpose")
    raise AppError(data)


@query
async def crash(ctx: Any) -> None:
    """A bug in the app: its message must not reach the client."""
    log.error("crashing now")
    raise RuntimeError("secret-internal-detail")


@mutation
async def bad_insert(ctx: Any) -> None:
    """A document that fails schema validation while the function runs."""
    await ctx.db.insert("messages", {"body": 1, "author": "x"})


@action
async def call_missing(ctx: Any) -> None:
    """A nested call to a function that does not exist."""
    await ctx.run_query("calls:does_not_exist")


@query
async def whoami(ctx: Any) -> Any:
    """The caller's identity as Convex's identity object, or None."""
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else identity.to_dict()


@mutation
async def rename(ctx: Any, id: str, body: str) -> None:
    """Change a message's body (an unindexed field)."""
    await ctx.db.patch(id, {"body": body})
