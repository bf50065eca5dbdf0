"""How a lease engine runs its work, and the defaults of each kind of work (defined once:
the settings, ``mainspring serve --help`` and the engines all read them from here)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DAY_MS", "SCHEDULED_FUNCTIONS", "WORK_ITEMS", "LeaseOptions"]

DAY_MS = 24 * 60 * 60 * 1000.0


@dataclass(frozen=True)
class LeaseOptions:
    """How one engine (one per process and kind of work) runs its rows.

    ``concurrency`` bounds the runs one process does at once. A claimed row holds a lease of
    ``lease_ms``, renewed every ``lease_ms / 4`` while it runs; when a process dies, other
    processes notice the expired lease within about ``lease_ms * 1.5``. ``poll_ms`` is the
    safety net when no wake-up arrives (``capped_poll_ms`` while a cap holds work back, for
    slots other processes free); finished rows are deleted ``retention_ms`` after they
    finished, checked every ``prune_every_ms``. On shutdown, running work gets
    ``shutdown_grace_ms`` to finish. When work waits for slots, a finishing run wakes the
    engine once ``refill_fraction`` of its slots are free: 0 claims for every freed slot
    (one claim transaction takes every kind of due row), a quarter lets one claim round take
    a batch (a round of work-pool claims is one transaction per pool).
    """

    concurrency: int = 32
    lease_ms: float = 10_000.0
    poll_ms: float = 5_000.0
    capped_poll_ms: float = 100.0
    retention_ms: float = 7 * DAY_MS
    prune_every_ms: float = 10 * 60 * 1000.0
    prune_batch: int = 500
    claim_batch: int = 256
    shutdown_grace_ms: float = 10_000.0
    refill_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.lease_ms < 100:
            raise ValueError("lease_ms must be at least 100")
        if not 0.0 <= self.refill_fraction <= 1.0:
            raise ValueError("refill_fraction must be between 0 and 1")

    @property
    def refill_slots(self) -> int:
        """How many free slots wake an engine whose work waits for slots."""
        return max(1, int(self.concurrency * self.refill_fraction))

    @property
    def heartbeat_ms(self) -> float:
        """How often running work's leases are renewed."""
        return self.lease_ms / 4


#: Scheduled functions: finished rows are kept a week (Convex keeps them for a while too).
SCHEDULED_FUNCTIONS = LeaseOptions()
#: Work-pool items: more at once per process, kept a day.
WORK_ITEMS = LeaseOptions(concurrency=64, retention_ms=DAY_MS, refill_fraction=0.25)
