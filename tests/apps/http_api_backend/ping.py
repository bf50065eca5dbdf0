"""A module whose ``default`` function answers the bare path ``ping``."""

from __future__ import annotations

from typing import Any

from mainspring import query


@query
async def default(ctx: Any) -> str:
    """Pong."""
    return "pong"
