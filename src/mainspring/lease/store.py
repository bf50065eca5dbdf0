"""The interface every kind of leased work implements: :class:`LeaseStore`.

The lease engine (:mod:`mainspring.lease.engine`) knows nothing of scheduled functions or
work items. It asks a store to claim due rows into free slots, runs what it got through
:class:`~mainspring.lease.runner.LeaseRunner`, and hands back outcomes, heartbeats and
releases. Each method's contract below is what the engine relies on, and what
``tests/contract/test_lease_stores.py`` checks of every store on every database.

Words used throughout:

* a **run** is one row of the store's table, claimed by one engine (its *owner*) under a
  **lease** that expires ``lease_ms`` after it was taken or last renewed;
* a row is **ours** while it is running under this owner's lease; every change the engine
  asks for re-checks that in its own transaction, so a row that was canceled, reaped or
  taken over meanwhile is left alone;
* a **mutation body** runs the row's function inside a transaction the store opens, which
  also records the row's success: the function's writes and the row's state commit together,
  exactly once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, TypeVar

from ..kernel import MutationBody

__all__ = [
    "Claim",
    "InlineMutations",
    "Lease",
    "LeaseStore",
    "Leased",
    "Leases",
    "MutationBody",
]

#: For a claimed row, the body that runs its mutation right inside the claim (None: not a
#: mutation of this app, claim it as usual).
InlineMutations = Callable[["Leased"], MutationBody | None]

_O = TypeVar("_O")


class Lease(TypedDict):
    """A row's lease, as stored on it: who runs it (host:pid:suffix) and until when (ms)."""

    owner: str
    expires: float


@dataclass(frozen=True, slots=True)
class Leases:
    """The leases one owner takes: ``lease_ms`` long from when they are taken or renewed."""

    owner: str
    lease_ms: float

    def take(self, now: float) -> Lease:
        """A lease of ours, taken at ``now``."""
        return {"owner": self.owner, "expires": now + self.lease_ms}

    def held(self, lease: Lease | None) -> bool:
        """Whether ``lease`` is ours."""
        return lease is not None and lease["owner"] == self.owner

    @staticmethod
    def expired(lease: Lease | None, now: float) -> bool:
        """Whether ``lease`` (None: no lease at all) has run out at ``now``."""
        return lease is None or float(lease["expires"]) < now


@dataclass(slots=True)
class Leased:
    """One claimed run, as the engine sees it."""

    id: str
    #: The path of the function to run.
    name: str
    #: Its arguments (a dict).
    args: Any
    #: When our lease on it expires (ms since the epoch); the heartbeat moves it.
    lease_expires: float
    #: The row as claimed (the store's own shape).
    row: dict[str, Any] = field(repr=False)


@dataclass
class Claim:
    """What one claim got."""

    #: Rows now running under our lease, to be run by the engine.
    runs: list[Leased] = field(default_factory=list)
    #: Due mutations the claim ran itself, in its own transaction (already finished).
    ran: int = 0
    #: As many rows as asked for were claimed: more may be due right now.
    full: bool = False
    #: Another process was claiming (a lock was taken): look again in a moment.
    busy: bool = False
    #: A cap stopped the claim (a pool at its ``max_parallelism``): only a finishing run
    #: frees a slot, so look again when one does (or every ``capped_poll_ms``).
    capped: bool = False


class LeaseStore(Protocol[_O]):
    """Claims, outcomes and upkeep of one kind of leased work, for one owner.

    ``_O`` is the store's outcome type: what :meth:`finish` records for a run.
    """

    #: Names the runs in logs and transaction labels ("scheduled functions").
    what: str
    #: Names one run in logs ("scheduled function").
    noun: str
    #: Who holds the leases this store takes (host, pid, random suffix).
    owner: str

    async def claim(self, limit: int, inline: InlineMutations | None = None) -> Claim:
        """Mark up to ``limit`` due rows running under a fresh lease of ours and return them.

        Due means due by the clock now; caps of the store's own (a pool's parallelism) hold
        across every process. With ``inline`` (only where the database's claim transactions
        are serializable), each claimed row for which ``inline`` gives a body is run inside
        the claim's transaction and recorded as succeeded there, counted in ``Claim.ran``
        rather than returned. If a body raises, that claim transaction rolls back and the
        store claims those rows again without ``inline``: they are returned to run (and fail)
        on their own, and nothing a failed body wrote is kept. ``Claim.full`` is set when
        ``len(runs) + ran == limit``."""
        ...

    async def next_due(self, after: float | None = None) -> float | None:
        """The earliest time (ms) a row that is not running becomes due, if any — only
        times later than ``after`` when given (the claim that just ran took the rest)."""
        ...

    async def run_mutations(self, batch: Sequence[tuple[str, MutationBody]]) -> int:
        """In one transaction: for each ``(id, body)`` whose row is still ours, run
        ``body`` and record the row's success with the value it returned (a row whose
        cancel was requested is recorded canceled instead, without running it). Rows no
        longer ours are skipped. Returns how many ran. An exception from any body rolls back
        every one of them and propagates."""
        ...

    async def finish(self, outcomes: Sequence[tuple[str, _O]]) -> None:
        """Record how runs ended, in one transaction; rows no longer ours are left alone.
        The store decides what an outcome means (a failure may be retried later)."""
        ...

    async def release(self, ids: Sequence[str]) -> None:
        """Give rows that are ours but did not run back, due as before, lease removed (no
        attempt is counted)."""
        ...

    async def heartbeat(self, ids: Sequence[str]) -> float:
        """Renew our lease on those of ``ids`` that are still ours; the new expiry."""
        ...

    async def reap(self) -> int:
        """Settle running rows whose lease expired (their process died or hung): a mutation
        goes back to due (nothing of it committed), an action is failed with a "process
        died" error (retried only where the store's policy says so). How many."""
        ...

    async def prune(self, cutoff: float, batch: int) -> int:
        """Delete up to ``batch`` finished rows whose run ended before ``cutoff``; how many
        were deleted (fewer than ``batch``: nothing older is left)."""
        ...

    def success(self, value: Any) -> _O:
        """The outcome of a run whose function returned ``value``."""
        ...

    def failure(self, error: str, *, retryable: bool) -> _O:
        """The outcome of a run that failed with ``error``; ``retryable`` if the store's
        policy may run it again (an error from user code that is not final)."""
        ...

    def retryable(self, exc: BaseException) -> bool:
        """Whether an exception raised by an action's code may be retried."""
        ...

    def running(self, run: Leased) -> contextlib.AbstractContextManager[object]:
        """Entered while an action of this store runs (for task-local context)."""
        ...
