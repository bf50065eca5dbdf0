"""The scheduler's per-runtime hub (``runtime.scheduling``) and the executor's options.

The hub registers the ``_system/scheduler:*`` functions (used by ``mainspring scheduled``)
and relays in-process announcements — "a mutation just committed work due at T" — to the
executors running in this process, so they wake at once without a round trip to the
database. Executors in other processes hear the same news through the database's
notifications (``LISTEN/NOTIFY`` on PostgreSQL).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .system import SYSTEM_FUNCTIONS

if TYPE_CHECKING:
    from ..runtime import Runtime

__all__ = ["DAY_MS", "ExecutorOptions", "Scheduling", "WakeUps"]

log = logging.getLogger("mainspring.scheduler")

DAY_MS = 24 * 60 * 60 * 1000.0

Announcement = Callable[[float], None]


@dataclass(frozen=True)
class ExecutorOptions:
    """How an executor runs scheduled functions.

    ``concurrency`` bounds the functions one process runs at once. A claimed function holds
    a lease of ``lease_ms``, renewed every ``lease_ms / 4`` while it runs; when a process
    dies, other processes notice the expired lease within about ``lease_ms * 1.5``.
    ``poll_ms`` is the safety net when no wake-up arrives; finished rows are deleted
    ``retention_ms`` after they finished, checked every ``prune_every_ms``. On shutdown,
    running functions get ``shutdown_grace_ms`` to finish.
    """

    concurrency: int = 32
    lease_ms: float = 10_000.0
    poll_ms: float = 5_000.0
    retention_ms: float = 7 * DAY_MS
    prune_every_ms: float = 10 * 60 * 1000.0
    prune_batch: int = 500
    claim_batch: int = 256
    shutdown_grace_ms: float = 10_000.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.lease_ms < 100:
            raise ValueError("lease_ms must be at least 100")

    @property
    def heartbeat_ms(self) -> float:
        """How often running functions' leases are renewed."""
        return self.lease_ms / 4


class WakeUps:
    """In-process wake-ups: "work due at T was just committed", to the listeners here (other
    processes hear it through the database's notifications). ``what`` names the work in logs."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._listeners: list[Announcement] = []

    def subscribe(self, listener: Announcement) -> Callable[[], None]:
        """Call ``listener(time)`` whenever this process commits work due at ``time``."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def announce(self, when: float) -> None:
        """Work due at ``when`` was committed (called after the commit)."""
        for listener in list(self._listeners):
            try:
                listener(when)
            except Exception:
                log.exception("a %s wake-up listener failed", self._what)


class Scheduling(WakeUps):
    """``runtime.scheduling``: system functions and in-process wake-ups."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__("scheduler")
        self._runtime = runtime
        for path, definition in SYSTEM_FUNCTIONS.items():
            runtime.registry.add(path, definition)
