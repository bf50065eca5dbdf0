"""The function every benchmark cron calls."""

from __future__ import annotations

from typing import Any

from mainspring import internal_mutation


@internal_mutation
async def record(ctx: Any, i: int) -> None:
    """Does nothing: the firing's own rows (run history, scheduled function) are the writes."""
