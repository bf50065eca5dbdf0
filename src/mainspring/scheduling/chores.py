"""Periodic chores on the runtime's clock: the upkeep loop of executors and dispatchers.

Each chore runs when due, then again ``every_ms`` later; a failing chore is logged and tried
again on its next turn. Sleeping goes through the injected clock (tests move time instead of
waiting), bounded by real time as well, since a virtual clock may never be advanced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..clock import Clock

__all__ = ["Chore", "run_chores"]


@dataclass(frozen=True)
class Chore:
    """``run`` every ``every_ms``, the first time ``first_after_ms`` after the start."""

    what: str
    every_ms: float
    run: Callable[[], Awaitable[object]]
    first_after_ms: float = 0.0


async def run_chores(clock: Clock, chores: Sequence[Chore], log: logging.Logger) -> None:
    """Do each chore when it is due, until cancelled."""
    start = clock.now_ms()
    due = [start + chore.first_after_ms for chore in chores]
    while True:
        now = clock.now_ms()
        for n, chore in enumerate(chores):
            if now >= due[n]:
                due[n] = now + chore.every_ms
                try:
                    await chore.run()
                except Exception as exc:
                    log.warning("%s failed: %s", chore.what, exc)
        wake = min(due)
        timeout = max(0.0, (wake - clock.now_ms()) / 1000)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(clock.sleep_until(wake), timeout=timeout + 0.05)
