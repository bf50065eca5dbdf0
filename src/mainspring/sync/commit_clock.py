"""The sync protocol's timestamps: nanoseconds that never go backwards.

Every Transition carries a snapshot timestamp, and a client resolves a mutation only when a
Transition at or after the mutation's timestamp arrives, so the clock must be monotonic for
each client — across reconnects to another process and across restarts. It ticks from the
deployment clock (``max(last + 1, now)``), is raised to whatever a reconnecting client
reports having seen, and starts above the value stored at the last shutdown.
"""

from __future__ import annotations

from ..clock import Clock

__all__ = ["CommitClock"]


class CommitClock:
    """Unique, increasing u64 nanosecond timestamps."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last = 0

    def now(self) -> int:
        """A timestamp later than every one handed out or observed before."""
        now = max(self._last + 1, int(self._clock.now_ms() * 1_000_000))
        self._last = now
        return now

    def observe(self, ts: int) -> None:
        """Never hand out ``ts`` or anything earlier from now on."""
        if ts > self._last:
            self._last = ts

    @property
    def last(self) -> int:
        """The latest timestamp handed out or observed."""
        return self._last
