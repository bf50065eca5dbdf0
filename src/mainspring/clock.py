"""Time, read only through an injected clock so tests can move it instead of sleeping."""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod

__all__ = ["Clock", "SystemClock", "VirtualClock"]


class Clock(ABC):
    """Source of "now" and of waiting.

    Contract: ``now_ms`` never goes backwards within one clock object and is milliseconds
    since the Unix epoch as a float. ``sleep_until`` returns no earlier than the given time
    as seen by ``now_ms`` (a virtual clock returns when it is advanced past it).
    """

    @abstractmethod
    def now_ms(self) -> float:
        """Milliseconds since the Unix epoch."""

    @abstractmethod
    async def sleep_until(self, when_ms: float) -> None:
        """Wait until ``now_ms() >= when_ms``."""


class SystemClock(Clock):
    """The wall clock, made monotonic so that commit times never step backwards."""

    def __init__(self) -> None:
        self._last = 0.0

    def now_ms(self) -> float:
        now = time.time() * 1000.0
        # Wall clocks can step back (NTP); creation times must not.
        if now <= self._last:
            now = self._last + 0.001
        self._last = now
        return now

    async def sleep_until(self, when_ms: float) -> None:
        # Event loops round timers (uvloop to whole milliseconds) and may wake a little
        # early; callers rely on the deadline having passed when this returns.
        while True:
            delay = (when_ms - time.time() * 1000.0) / 1000.0
            if delay <= 0:
                return
            await asyncio.sleep(delay)


class VirtualClock(Clock):
    """A clock that only moves when told to; for tests and the test harness."""

    def __init__(self, start_ms: float = 1_700_000_000_000.0) -> None:
        self._now = float(start_ms)
        self._waiters: list[tuple[float, asyncio.Future[None]]] = []

    def now_ms(self) -> float:
        return self._now

    def set(self, when_ms: float) -> None:
        """Jump to ``when_ms`` (never backwards) and wake every sleeper now due."""
        if when_ms < self._now:
            raise ValueError(f"VirtualClock cannot go backwards ({when_ms} < {self._now})")
        self._now = float(when_ms)
        due = [(t, f) for t, f in self._waiters if t <= self._now]
        self._waiters = [(t, f) for t, f in self._waiters if t > self._now]
        for _, fut in due:
            if not fut.done():
                fut.set_result(None)

    def advance(self, ms: float) -> None:
        """Move forward by ``ms`` milliseconds."""
        self.set(self._now + ms)

    def next_wakeup(self) -> float | None:
        """The earliest time someone is sleeping until, if any."""
        pending = [t for t, f in self._waiters if not f.done()]
        return min(pending) if pending else None

    async def sleep_until(self, when_ms: float) -> None:
        if when_ms <= self._now:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((when_ms, fut))
        await fut
