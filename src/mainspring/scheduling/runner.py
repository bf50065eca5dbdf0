"""Running one claimed scheduled function, with the guarantees of its kind.

A **mutation** runs in a transaction that first checks the row is still ours and ends by
marking it ``success`` — its writes and its state change commit together, exactly once;
conflicts retry it (inside :meth:`Runtime.transact`) and transient database errors retry it
with backoff. An error raised by the user's code rolls its writes back and is recorded as
``failed`` in a transaction of its own.

An **action** was marked ``inProgress`` when it was claimed (committed before it starts);
it runs once, and its outcome is recorded unless the row was canceled meanwhile. Scheduled
functions run with no identity.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..auth import Auth
from ..context import MutationCtx
from ..errors import ConflictError, DatabaseError, FunctionNotFoundError
from ..functions import FunctionDefinition
from ..logs import capture_logs
from .jobs import current_job, error_text, failed, state

if TYPE_CHECKING:
    from ..db.store import DocumentWriter
    from ..runtime import Runtime
    from .claims import JobStore, MutationBody, Outcome
    from .outcomes import Completer

__all__ = ["JobRunner"]

log = logging.getLogger("mainspring.scheduler")

#: Transient failures (database down, conflicts beyond the retry budget) retried this often
#: in-process before the mutation is handed back to ``pending`` for a later claim.
TRANSIENT_RETRIES = 6


class JobRunner:
    """Runs claimed rows for one executor."""

    def __init__(self, runtime: Runtime, jobs: JobStore, completer: Completer[Outcome]) -> None:
        self.runtime = runtime
        self.jobs = jobs
        self.completer = completer

    def kind_of(self, row: dict[str, Any]) -> str | None:
        """``"mutation"``, ``"action"`` or None (no such function in this app)."""
        try:
            return self.runtime.registry.resolve(row["name"]).kind
        except FunctionNotFoundError:
            return None

    async def run(self, row: dict[str, Any]) -> None:
        """Run a row this executor claimed, and record how it ended."""
        job_id, name = row["_id"], row["name"]
        try:
            definition = self.runtime.registry.resolve(name)
        except FunctionNotFoundError:
            await self.completer.finish(job_id, failed(f"no function {name} in this app"))
            return
        args = row["args"][0] if row["args"] else {}
        await self.runtime.env.refresh_if_stale()
        if definition.kind == "mutation":
            await self._mutation(job_id, definition, args)
        else:
            await self._action(job_id, definition, args)

    async def run_batch(self, rows: list[dict[str, Any]]) -> None:
        """Run claimed mutation rows in one transaction, one commit for all of them. If any
        of them fails, all roll back and each runs alone (:meth:`run`), so a failure is
        retried, or recorded, for its own row only."""
        await self.runtime.env.refresh_if_stale()
        batch = [(row["_id"], body) for row in rows if (body := self.mutation_of(row))]
        if len(batch) == len(rows):
            try:
                await self.jobs.run_mutations(batch)
                return
            except Exception as exc:
                log.debug("%d scheduled mutations failed together (%s); one by one", len(rows), exc)
        for row in rows:
            await self.run(row)

    def mutation_of(self, row: dict[str, Any]) -> MutationBody | None:
        """The body that runs ``row``'s function in a given transaction, if it is a mutation
        of this app (None for actions and unknown functions)."""
        try:
            definition = self.runtime.registry.resolve(row["name"])
        except FunctionNotFoundError:
            return None
        if definition.kind != "mutation":
            return None
        args = row["args"][0] if row["args"] else {}
        body = self._body(definition, args)

        async def logged(writer: DocumentWriter) -> None:
            with capture_logs(definition.label):
                await body(writer)

        return logged

    def _body(self, definition: FunctionDefinition, args: Any) -> MutationBody:
        runtime = self.runtime

        async def body(writer: DocumentWriter) -> None:
            checked = runtime.validate_args(definition, args)
            value = await definition.handler(MutationCtx(runtime, writer, Auth()), **checked)
            runtime._check_return(definition, value)

        return body

    async def _mutation(self, job_id: str, definition: FunctionDefinition, args: Any) -> None:
        body = self._body(definition, args)
        delay = 0.05
        for attempt in range(1, TRANSIENT_RETRIES + 1):
            try:
                with capture_logs(definition.label):
                    await self.jobs.run_mutation(job_id, body)
                return
            except (ConflictError, DatabaseError) as exc:
                if attempt == TRANSIENT_RETRIES:
                    log.warning("%s: giving %s back after: %s", definition.label, job_id, exc)
                    await self._give_back(job_id)
                    return
                log.info("%s: transient failure, retrying: %s", definition.label, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 4, 5.0)
            except Exception as exc:
                log.info("%s (scheduled %s) failed: %s", definition.label, job_id, exc)
                await self.completer.finish(job_id, failed(error_text(exc)))
                return

    async def _give_back(self, job_id: str) -> None:
        try:
            await self.jobs.release([job_id])
        except Exception as exc:  # the lease expires and the reaper gives it back instead
            log.warning("could not release %s: %s", job_id, exc)

    async def _action(self, job_id: str, definition: FunctionDefinition, args: Any) -> None:
        token = current_job.set(job_id)
        try:
            await self.runtime.call(definition, args, auth=Auth())
            outcome = state("success")
        except Exception as exc:
            log.info("%s (scheduled %s) failed: %s", definition.label, job_id, exc)
            outcome = failed(error_text(exc))
        finally:
            current_job.reset(token)
        await self.completer.finish(job_id, outcome)
