"""One backoff rule for every retry loop: exponential, capped, optionally jittered.

Conflict retries (:meth:`~mainspring.runtime.Runtime.transact`), transient failures of
scheduled and work-pool mutations, completions that could not be written, a lost
``LISTEN`` connection and work pools' user-facing :class:`~mainspring.workpool.RetryPolicy`
all wait ``first * factor ** (attempt - 1)``, at most ``cap``, times a random factor in
``[jitter_low, jitter_low + jitter_span)`` when jittered (so retries that collided once do
not collide again in lockstep).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits of ``first`` (any unit), growing by ``factor`` per attempt, capped at ``cap``."""

    first: float
    factor: float = 2.0
    cap: float = float("inf")
    jitter: bool = True
    jitter_low: float = 0.5
    jitter_span: float = 1.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        try:
            delay = min(self.first * self.factor ** (attempt - 1), self.cap)
        except OverflowError:
            delay = self.cap
        if self.jitter:
            delay *= self.jitter_low + (rng or random).random() * self.jitter_span
        return min(delay, self.cap)

    async def sleep(self, attempt: int) -> None:
        """Sleep (real time, in seconds) for :meth:`delay` of ``attempt``."""
        await asyncio.sleep(self.delay(attempt))
