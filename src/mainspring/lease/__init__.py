"""One lease engine for every kind of background work.

* :mod:`.store` — :class:`~.store.LeaseStore`, the interface a kind of work implements
  (claims, outcomes, leases, reaping, pruning), with its contract;
* :mod:`.engine` — :class:`~.engine.LeaseEngine`: the dispatch loop (wake, sleep, claim into
  free slots, batch due mutations, settle on shutdown) over one store;
* :mod:`.runner` — runs one claimed row with the guarantees of its function's kind;
* :mod:`.completer` — records outcomes a batch at a time;
* :mod:`.upkeep` and :mod:`.chores` — heartbeats, reaping and pruning on the clock;
* :mod:`.wakeups` — in-process announcements of newly committed work;
* :mod:`.options` — how an engine runs, and each kind of work's defaults.

Scheduled functions (:mod:`mainspring.scheduling`) and work-pool items
(:mod:`mainspring.workpool`) are the two stores.
"""
