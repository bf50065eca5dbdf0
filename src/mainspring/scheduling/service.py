"""The scheduler's per-runtime hub (``runtime.scheduling``).

It relays in-process announcements — "a mutation just committed work due at T" — to the
executors running in this process, so they wake at once without a round trip to the
database. Executors in other processes hear the same news through the database's
notifications (``LISTEN/NOTIFY`` on PostgreSQL). Other features learn of every state change
of a scheduled function through :meth:`Scheduling.on_job_state`, called inside the
transaction that makes the change (crons keep their run history that way).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from ..feed import CommitFeed
from ..kernel import Kernel
from ..lease.wakeups import WakeUps
from .jobs import NOTIFY_CHANNEL

if TYPE_CHECKING:
    from ..db.store import DocumentWriter
    from .jobs import ScheduledFunctionRow, StateValue

__all__ = ["JobStateHook", "Scheduling", "SchedulingKernel"]

#: ``hook(system_writer, row, new_state, now)``, awaited in the changing transaction.
JobStateHook = Callable[
    ["DocumentWriter", "ScheduledFunctionRow", "StateValue", float], Awaitable[None]
]


class Scheduling(WakeUps):
    """``runtime.scheduling``: in-process wake-ups and job-state hooks."""

    def __init__(self, feed: CommitFeed) -> None:
        super().__init__(feed, NOTIFY_CHANNEL, "scheduler")
        self._state_hooks: list[JobStateHook] = []

    def on_job_state(self, hook: JobStateHook) -> None:
        """Await ``hook`` whenever a scheduled function's state changes (claimed, finished,
        canceled), inside the transaction that changes it."""
        self._state_hooks.append(hook)

    async def state_changed(
        self, system: DocumentWriter, row: ScheduledFunctionRow, state: StateValue, now: float
    ) -> None:
        """Tell the hooks that ``row`` is changing to ``state`` (in ``system``'s transaction)."""
        for hook in self._state_hooks:
            await hook(system, row, state, now)


class SchedulingKernel(Kernel, Protocol):
    """The kernel, with the scheduled functions' own hub: what their store runs on."""

    scheduling: Scheduling
