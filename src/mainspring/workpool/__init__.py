"""Work pools: background work with a hard parallelism cap, retries and completion callbacks.

* :mod:`.pool` — ``Workpool`` (declared in user code): ``enqueue_action`` / ``enqueue_mutation``
  and their batch forms, ``status``, ``cancel``, ``cancel_all``;
* :mod:`.policy` — ``RetryPolicy`` and which failures retry; :mod:`.retry` —
  ``run_with_retries`` for one-off calls from an action;
* :mod:`.items` — the ``_workpools`` / ``_workpool_items`` system tables;
* :mod:`.hub` — ``runtime.workpools`` (pool rows, wake-ups, :mod:`.system` functions);
* :mod:`.dispatcher` — claims (:mod:`.claims`) and runs (:mod:`.runner`) due items in every
  process, with leases, reaping and pruning (:mod:`.upkeep`); :mod:`.settle` ends items and
  calls ``on_complete``; :mod:`.harness` drives it all in tests.
"""

from __future__ import annotations

from .items import WorkId, WorkResult, WorkStatus
from .policy import RetryPolicy
from .pool import Workpool
from .retry import run_with_retries

__all__ = ["RetryPolicy", "WorkId", "WorkResult", "WorkStatus", "Workpool", "run_with_retries"]
