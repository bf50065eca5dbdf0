"""The dispatcher: the lease engine over ``_workpool_items``; a runtime service.

One per process (``mainspring worker``, and ``serve`` unless ``--scheduler off``). All of the
running — claims into free slots, wake-ups, leases, batching of due mutations, shutdown — is
:class:`~mainspring.lease.engine.LeaseEngine`'s; this module gives it the work pools' store
(:class:`~mainspring.workpool.claims.ItemStore`), their wake-ups, and reconciles the declared
pools before it starts. Per process, at most ``concurrency`` items run at once, whatever the
pools' caps; a pool at its cap is looked at again when one of this process's items finishes,
and every ``capped_poll_ms`` for slots other processes free.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..lease.engine import LeaseEngine, new_owner
from ..lease.options import WORK_ITEMS, LeaseOptions
from .claims import ItemStore, Outcome
from .items import STOPPED_ERROR

if TYPE_CHECKING:
    from .hub import PoolsKernel

__all__ = ["Dispatcher"]

log = logging.getLogger("mainspring.workpool")


class Dispatcher(LeaseEngine[Outcome]):
    """Runs a runtime's work pools (``start`` / ``stop``, or ``run_due``)."""

    store: ItemStore

    def __init__(self, runtime: PoolsKernel, options: LeaseOptions | None = None) -> None:
        options = options or WORK_ITEMS
        super().__init__(
            runtime,
            ItemStore(runtime, new_owner(), options.lease_ms),
            runtime.workpools,
            options,
            stopped_error=STOPPED_ERROR,
            log=log,
            before_start=runtime.workpools.reconcile,
        )
