"""Durable scheduled functions: ``ctx.scheduler`` and the executor that runs them.

* :mod:`.jobs` — the ``_scheduled_functions`` rows, their states and time arithmetic;
* :mod:`.scheduler` — ``ctx.scheduler`` (``run_after``, ``run_at``, ``cancel``);
* :mod:`.service` — ``runtime.scheduling`` (wake-ups, system functions);
* :mod:`.claims` — the scheduled functions' lease store: claims, outcomes, leases, reaping
  and pruning of ``_scheduled_functions``;
* :mod:`.executor` — the lease engine (:mod:`mainspring.lease`) over that store.

Import :class:`~mainspring.scheduling.executor.Executor` from its module: this package's
``__init__`` stays light because ``mainspring.context`` imports the scheduler.
"""

from __future__ import annotations

from .jobs import TABLE, State
from .scheduler import ActionScheduler, MutationScheduler

__all__ = ["TABLE", "ActionScheduler", "MutationScheduler", "State"]
