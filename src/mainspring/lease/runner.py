"""Running one claimed run, with the guarantees of its function's kind.

A **mutation** runs through :meth:`LeaseStore.run_mutations`: in a transaction that first
checks the row is still ours and ends by recording its success, so its writes and its state
change commit together, exactly once. Conflicts retry it (inside ``transact``); other
transient faults (the database failing) retry it here with backoff and finally give it back
(:meth:`LeaseStore.release`) for a later claim. An error raised by the user's code rolls its
writes back and is recorded as the run's failure in a transaction of its own.

An **action** was marked running when it was claimed (committed before it starts); it runs
once, and its outcome goes to the engine's :class:`~mainspring.lease.completer.Completer`,
which records it through the store (a store may retry it per its policy). Leased work runs
with no identity.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..auth import Auth
from ..backoff import Backoff
from ..errors import AppError, ConflictError, DatabaseError, FunctionNotFoundError
from ..functions import FunctionDefinition
from ..logs import capture_logs
from .completer import Completer
from .store import Leased, LeaseStore, MutationBody

if TYPE_CHECKING:
    from ..db.store import DocumentWriter
    from ..kernel import Kernel

__all__ = ["LeaseRunner", "error_text"]

log = logging.getLogger("mainspring.lease")

#: Transient failures (database down, conflicts beyond the retry budget) are retried this
#: often in-process before the mutation is given back for a later claim …
TRANSIENT_RETRIES = 6
#: … waiting this long between attempts (seconds).
TRANSIENT_BACKOFF = Backoff(0.05, 4.0, 5.0, jitter=False)

_O = TypeVar("_O")


def error_text(exc: BaseException) -> str:
    """How a failure is recorded: the message, with the type for non-app errors."""
    message = str(exc)
    if isinstance(exc, AppError):
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class LeaseRunner(Generic[_O]):
    """Runs claimed rows of one store, for one engine."""

    def __init__(self, kernel: Kernel, store: LeaseStore[_O], completer: Completer[_O]) -> None:
        self.kernel = kernel
        self.store = store
        self.completer = completer

    def _definition(self, run: Leased) -> FunctionDefinition | None:
        try:
            return self.kernel.resolve(run.name)
        except FunctionNotFoundError:
            return None

    def kind_of(self, run: Leased) -> str | None:
        """``"mutation"``, ``"action"`` or None (no such function in this app)."""
        definition = self._definition(run)
        return None if definition is None else definition.kind

    def mutation_of(self, run: Leased) -> MutationBody | None:
        """The body that runs ``run``'s function in a given transaction, if it is a mutation
        of this app (None for actions and unknown functions)."""
        definition = self._definition(run)
        if definition is None or definition.kind != "mutation":
            return None
        body = self.kernel.mutation_body(definition, run.args, Auth())

        async def logged(writer: DocumentWriter) -> Any:
            with capture_logs(definition.label):
                return await body(writer)

        return logged

    async def run(self, run: Leased) -> None:
        """Run a row this engine claimed, and record how it ended."""
        definition = self._definition(run)
        if definition is None:
            error = f"no function {run.name} in this app"
            await self.completer.finish(run.id, self.store.failure(error, retryable=False))
            return
        await self.kernel.refresh_env()
        if definition.kind == "mutation":
            await self._mutation(run, definition)
        else:
            await self._action(run, definition)

    async def run_batch(self, runs: list[Leased]) -> None:
        """Run claimed mutation rows in one transaction, one commit for all of them. If any
        of them fails, all roll back and each runs alone (:meth:`run`), so a failure is
        retried, or recorded, for its own row only."""
        await self.kernel.refresh_env()
        batch = [(run.id, body) for run in runs if (body := self.mutation_of(run))]
        if len(batch) == len(runs):
            try:
                await self.store.run_mutations(batch)
                return
            except Exception as exc:
                log.debug("%d %s failed together (%s); one by one", len(runs), self.store.what, exc)
        for run in runs:
            await self.run(run)

    async def _mutation(self, run: Leased, definition: FunctionDefinition) -> None:
        body = self.kernel.mutation_body(definition, run.args, Auth())
        store = self.store
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                with capture_logs(definition.label):
                    await store.run_mutations([(run.id, body)])
                return
            except (ConflictError, DatabaseError) as exc:
                if attempt == TRANSIENT_RETRIES:
                    log.warning("%s: giving %s %s back after: %s", definition.label, store.noun,
                                run.id, exc)  # fmt: skip
                    await self._give_back(run.id)
                    return
                log.info("%s: transient failure, retrying: %s", definition.label, exc)
                await TRANSIENT_BACKOFF.sleep(attempt)
            except Exception as exc:
                log.info("%s (%s %s) failed: %s", definition.label, store.noun, run.id, exc)
                failure = store.failure(error_text(exc), retryable=False)
                await self.completer.finish(run.id, failure)
                return

    async def _give_back(self, run_id: str) -> None:
        try:
            await self.store.release([run_id])
        except Exception as exc:  # the lease expires and the reaper gives it back instead
            log.warning("could not release %s: %s", run_id, exc)

    async def _action(self, run: Leased, definition: FunctionDefinition) -> None:
        store = self.store
        try:
            with store.running(run):
                value = await self.kernel.call(definition, run.args, auth=Auth())
            outcome = store.success(value)
        except Exception as exc:
            log.info("%s (%s %s) failed: %s", definition.label, store.noun, run.id, exc)
            outcome = store.failure(error_text(exc), retryable=store.retryable(exc))
        await self.completer.finish(run.id, outcome)
