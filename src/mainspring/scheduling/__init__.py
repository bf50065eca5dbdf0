"""Durable scheduled functions: ``ctx.scheduler`` and the executor that runs them.

* :mod:`.jobs` — the ``_scheduled_functions`` rows, their states and time arithmetic;
* :mod:`.scheduler` — ``ctx.scheduler`` (``run_after``, ``run_at``, ``cancel``);
* :mod:`.service` — ``runtime.scheduling`` (wake-ups, system functions) and executor options;
* :mod:`.executor` — claims due rows and runs them (:mod:`.runner`), records outcomes
  (:mod:`.outcomes`), renews leases, settles dead processes' rows and prunes (:mod:`.upkeep`),
  all through :mod:`.claims`.

Import :class:`~mainspring.scheduling.executor.Executor` from its module: this package's
``__init__`` stays light because ``mainspring.context`` imports the scheduler.
"""

from __future__ import annotations

from .jobs import TABLE, State
from .scheduler import ActionScheduler, MutationScheduler
from .service import ExecutorOptions

__all__ = ["TABLE", "ActionScheduler", "ExecutorOptions", "MutationScheduler", "State"]
