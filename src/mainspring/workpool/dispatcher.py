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
from dataclasses import replace
from typing import TYPE_CHECKING

from ..lease.engine import LeaseEngine, new_owner
from ..lease.options import WORK_ITEMS, LeaseOptions
from .claims import ItemStore, Outcome
from .items import STOPPED_ERROR

if TYPE_CHECKING:
    from ..config import Settings
    from ..runtime import Runtime

__all__ = ["Dispatcher", "attach_workpools"]

log = logging.getLogger("mainspring.workpool")


class Dispatcher(LeaseEngine[Outcome]):
    """Runs a runtime's work pools (``start`` / ``stop``, or ``run_due``)."""

    store: ItemStore

    def __init__(self, runtime: Runtime, options: LeaseOptions | None = None) -> None:
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


def attach_workpools(runtime: Runtime, settings: Settings) -> Dispatcher:
    """Add a work pool dispatcher configured by ``settings`` to ``runtime`` (started with it)."""
    options = replace(
        WORK_ITEMS,
        concurrency=settings.workpool_concurrency,
        lease_ms=settings.scheduler_lease,
        poll_ms=settings.scheduler_poll,
        retention_ms=settings.workpool_retention,
    )
    dispatcher = Dispatcher(runtime, options)
    runtime.add_service(dispatcher)
    return dispatcher
