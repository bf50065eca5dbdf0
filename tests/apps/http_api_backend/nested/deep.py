"""A module in a subfolder: its functions' paths are ``nested/deep:<name>``."""

from __future__ import annotations

from typing import Any

from mainspring import query


@query
async def where(ctx: Any) -> str:
    """Where this function lives."""
    return "nested/deep"
