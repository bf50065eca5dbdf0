"""The executor: the lease engine over ``_scheduled_functions``; a runtime service.

All of the running — claims into free slots, wake-ups, leases, batching of due mutations,
shutdown — is :class:`~mainspring.lease.engine.LeaseEngine`'s; this module gives it the
scheduled functions' store (:class:`~mainspring.scheduling.claims.JobStore`) and wake-ups.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..lease.engine import LeaseEngine, new_owner
from ..lease.options import SCHEDULED_FUNCTIONS, LeaseOptions
from .claims import JobStore, Outcome, leased
from .jobs import STOPPED_ERROR, scheduled_row

if TYPE_CHECKING:
    from .service import SchedulingKernel

__all__ = ["Executor"]

log = logging.getLogger("mainspring.scheduler")


class Executor(LeaseEngine[Outcome]):
    """Runs a runtime's scheduled functions (``start`` / ``stop``, or ``run_due``)."""

    store: JobStore

    def __init__(self, runtime: SchedulingKernel, options: LeaseOptions | None = None) -> None:
        options = options or SCHEDULED_FUNCTIONS
        store = JobStore(runtime, new_owner(), options.lease_ms)
        super().__init__(
            runtime,
            store,
            runtime.scheduling,
            options,
            stopped_error=STOPPED_ERROR,
            log=log,
        )

    @property
    def jobs(self) -> JobStore:
        """The store of ``_scheduled_functions`` this executor claims from."""
        return self.store

    def adopt_rows(self, rows: list[dict[str, Any]]) -> None:
        """Run rows a committed transaction of this process already marked ``inProgress``
        under this executor's lease (a cron's firing)."""
        self.adopt([leased(scheduled_row(row)) for row in rows])
