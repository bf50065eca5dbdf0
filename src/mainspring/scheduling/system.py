"""Built-in functions behind ``mainspring scheduled ls | cancel`` (admin only).

``_system/scheduler:list`` reads ``_scheduled_functions`` newest first, optionally only one
function's rows and/or one state; ``_system/scheduler:cancel`` cancels one row the way
``ctx.scheduler.cancel`` does and says what it found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import FunctionNotFoundError, ValidationError
from ..functions import parse_path, system_function
from .jobs import STATE_INDEX, STATES, TABLE

__all__ = ["SYSTEM_FUNCTIONS"]

MAX_LIST = 1000


def _canonical(function: str) -> str:
    try:
        return parse_path(function)
    except FunctionNotFoundError as exc:
        raise ValidationError(f"--function: {exc}") from None


@system_function("query")
async def list_scheduled(
    ctx: Any, function: str | None = None, state: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Rows of ``_scheduled_functions``, newest first, filtered by function path and state."""
    if state is not None and state not in STATES:
        raise ValidationError(f"unknown state {state!r} (states: {', '.join(STATES)})")
    if not 1 <= limit <= MAX_LIST:
        raise ValidationError(f"limit must be between 1 and {MAX_LIST}")
    query = ctx.db.system.query(TABLE)
    if state is not None:
        query = query.with_index(STATE_INDEX, lambda q: q.eq("state.kind", state))
    query = query.order("desc")
    if function is not None:
        name = _canonical(function)
        query = query.filter(lambda row: row["name"] == name)
    rows: list[dict[str, Any]] = await query.take(limit)
    return rows


@system_function("mutation")
async def cancel_scheduled(ctx: Any, id: str) -> str:
    """Cancel one scheduled function; returns the state it was in before (only a
    ``pending`` or ``inProgress`` one is changed)."""
    system = ctx.db.system
    if system.normalize_id(TABLE, id) is None:
        raise ValidationError(f"{id!r} is not an id of {TABLE}")
    row = await system.get(id)
    if row is None:
        raise ValidationError(f"no scheduled function {id} (finished ones are pruned in time)")
    kind = str(row["state"]["kind"])
    await ctx.scheduler.cancel(id)
    return kind


#: Registered into every app by :class:`~mainspring.scheduling.service.Scheduling`.
SYSTEM_FUNCTIONS: Mapping[str, Any] = {
    "_system/scheduler:list": list_scheduled,
    "_system/scheduler:cancel": cancel_scheduled,
}
