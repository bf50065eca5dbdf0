"""The ``_system/env:*`` functions behind ``mainspring env`` (admin only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ValidationError
from ..functions import FunctionDefinition, system_function
from .variables import ENV_TABLE, MAX_VARIABLES, check_name, check_value

__all__ = ["SYSTEM_FUNCTIONS"]


async def _find(ctx: Any, name: str) -> dict[str, Any] | None:
    query = ctx.db.system.query(ENV_TABLE).with_index("by_name", lambda q: q.eq("name", name))
    found: dict[str, Any] | None = await query.unique()
    return found


@system_function("mutation")
async def env_set(ctx: Any, name: str, value: str) -> bool:
    """Set a variable; True if it was new."""
    check_value(check_name(name), value)
    existing = await _find(ctx, name)
    if existing is not None:
        await ctx.db.system_writer().patch(existing["_id"], {"value": value})
        return False
    count = len(await ctx.db.system.query(ENV_TABLE).take(MAX_VARIABLES + 1))
    if count >= MAX_VARIABLES:
        raise ValidationError(f"a deployment has at most {MAX_VARIABLES} environment variables")
    await ctx.db.system_writer().insert(ENV_TABLE, {"name": name, "value": value})
    return True


@system_function("mutation")
async def env_set_many(ctx: Any, variables: dict[str, str]) -> int:
    """Set several variables at once (``env set --from-file``), all or none."""
    for name, value in variables.items():
        check_value(check_name(name), value)
    for name, value in variables.items():
        await env_set.handler(ctx, name=name, value=value)
    return len(variables)


@system_function("query")
async def env_get(ctx: Any, name: str) -> str | None:
    """A variable's value, or None."""
    found = await _find(ctx, check_name(name))
    return None if found is None else str(found["value"])


@system_function("query")
async def env_list(ctx: Any) -> dict[str, str]:
    """Every variable, by name."""
    rows = await ctx.db.system.query(ENV_TABLE).collect()
    return {row["name"]: row["value"] for row in sorted(rows, key=lambda r: r["name"])}


@system_function("mutation")
async def env_remove(ctx: Any, name: str) -> bool:
    """Remove a variable; False if it was not set."""
    found = await _find(ctx, check_name(name))
    if found is None:
        return False
    await ctx.db.system_writer().delete(found["_id"])
    return True


#: Built-in functions every app has, callable only with the admin key.
SYSTEM_FUNCTIONS: Mapping[str, FunctionDefinition] = {
    "_system/env:set": env_set,
    "_system/env:set_many": env_set_many,
    "_system/env:get": env_get,
    "_system/env:list": env_list,
    "_system/env:remove": env_remove,
}
