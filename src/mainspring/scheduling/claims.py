"""The scheduled functions' :class:`~mainspring.lease.store.LeaseStore`: the executor's
reads and writes of ``_scheduled_functions``.

Every state change of a claimed row checks, in its own transaction, that the row is still
``inProgress`` under this executor's lease — so a row that was canceled, or whose lease
expired and was taken over or failed by another process, is left alone. That check, and the
fact that a mutation's success is written in the mutation's own transaction, are what make
mutations run exactly once and actions at most once, whatever the processes do.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

from ..db.query import IndexRangeBuilder
from ..db.store import REMOVE, DocumentReader, DocumentWriter
from ..errors import FunctionNotFoundError
from ..lease.store import Claim, InlineMutations, Lease, Leased, Leases, MutationBody
from .jobs import (
    COMPLETED_INDEX,
    DIED_ERROR,
    FINISHED,
    STATE_INDEX,
    TABLE,
    ScheduledFunctionRow,
    StateValue,
    current_job,
    failed,
    scheduled_row,
    state,
)

if TYPE_CHECKING:
    from .service import SchedulingKernel

__all__ = ["JobStore", "Outcome"]

log = logging.getLogger("mainspring.scheduler")

#: A finished run: the new ``state`` value.
Outcome = StateValue
_FIELDS = ("state.kind", "scheduledTime")
_REAP_BATCH = 500


def _range(kind: str, *, through: float | None = None, after: float | None = None) -> Any:
    builder = IndexRangeBuilder(STATE_INDEX, _FIELDS).eq("state.kind", kind)
    if through is not None:
        builder = builder.lte("scheduledTime", through)
    if after is not None:
        builder = builder.gt("scheduledTime", after)
    return builder.bounds()


def leased(row: ScheduledFunctionRow) -> Leased:
    """The engine's view of a row marked ``inProgress`` under a lease."""
    args = row["args"][0] if row["args"] else {}
    lease = row.get("lease")
    assert lease is not None, "a claimed row holds a lease"
    return Leased(row["_id"], row["name"], args, float(lease["expires"]), cast(Any, row))


class JobStore:
    """Claims, completions, heartbeats, reaping and pruning for one executor (``owner``)."""

    what = "scheduled functions"
    noun = "scheduled function"

    def __init__(self, kernel: SchedulingKernel, owner: str, lease_ms: float) -> None:
        self.kernel = kernel
        self.owner = owner
        self.leases = Leases(owner, lease_ms)

    def lease(self, now: float) -> Lease:
        """A lease for this executor, taken at ``now``."""
        return self.leases.take(now)

    def owns(self, row: ScheduledFunctionRow | None) -> bool:
        """True if ``row`` is running under this executor's lease."""
        return (
            row is not None
            and row["state"]["kind"] == "inProgress"
            and self.leases.held(row.get("lease"))
        )

    # -- outcomes -----------------------------------------------------------------------------

    def success(self, value: Any) -> Outcome:
        """A run's ``success`` state (a scheduled function's value is not kept)."""
        return state("success")

    def failure(self, error: str, *, retryable: bool) -> Outcome:
        """A run's ``failed`` state (scheduled actions are never retried: at most once)."""
        return failed(error)

    def retryable(self, exc: BaseException) -> bool:
        """Never: a scheduled action runs at most once."""
        return False

    @contextlib.contextmanager
    def running(self, run: Leased) -> Iterator[None]:
        """While a scheduled action runs, what it schedules is checked against its row (a
        canceled running action schedules only canceled functions)."""
        token = current_job.set(run.id)
        try:
            yield
        finally:
            current_job.reset(token)

    # -- claims -------------------------------------------------------------------------------

    async def claim(self, limit: int, inline: InlineMutations | None = None) -> Claim:
        """Mark up to ``limit`` due pending rows ``inProgress`` under our lease; with
        ``inline``, run the due mutations among them in the same transaction instead (if
        one raises, everything claims again the plain way)."""

        async def body(writer: DocumentWriter) -> Claim:
            system = writer.system_writer()
            now = self.kernel.clock.now_ms()
            index = await system.index_for(TABLE, STATE_INDEX)
            assert index is not None
            lo, hi = _range("pending", through=now)
            rows = [scheduled_row(doc) for doc in await system.claim(index, lo, hi, limit)]
            lease = self.lease(now)
            claim = Claim(full=len(rows) == limit)
            for row in rows:
                row["state"], row["lease"] = state("inProgress"), lease
                run = leased(row)
                mutation = inline(run) if inline is not None else None
                await self.kernel.scheduling.state_changed(system, row, state("inProgress"), now)
                if mutation is None:
                    await system.patch(row["_id"], {"state": state("inProgress"), "lease": lease})
                    claim.runs.append(run)
                else:
                    await mutation(writer)
                    await self._set(system, row, state("success"))
                    claim.ran += 1
            return claim

        label = "claiming scheduled functions"
        if inline is not None:
            try:
                return await self.kernel.transact(body, label=label, claim=True)
            except Exception as exc:
                # A mutation failed: claim the plain way, so it fails (and is recorded) alone.
                log.debug("running due mutations in the claim failed (%s); claiming", exc)
                inline = None
        return await self.kernel.transact(body, label=label, claim=True)

    async def next_due(self, after: float | None = None) -> float | None:
        """The earliest ``scheduledTime`` of a pending row (later than ``after``), if any."""
        return await self.next_pending(after)

    async def next_pending(self, after: float | None = None) -> float | None:
        """The earliest ``scheduledTime`` of a pending row (later than ``after``), if any."""
        async with self.kernel.read_snapshot() as reader:
            system = reader.system
            index = await system.index_for(TABLE, STATE_INDEX)
            assert index is not None
            lo, hi = _range("pending", after=after)
            rows = await system.scan(index, lo, hi, False, 1)
        return float(rows[0][1]["scheduledTime"]) if rows else None

    async def run_mutations(self, batch: Sequence[tuple[str, MutationBody]]) -> int:
        """In one transaction: for each row still ours, run its body and mark it
        ``success`` — one commit for the lot; rows no longer ours are skipped. Returns how
        many ran. An exception from any body rolls all of them back and propagates."""

        async def body(writer: DocumentWriter) -> int:
            system = writer.system_writer()
            if len(batch) > 1:
                await system.prefetch([job_id for job_id, _ in batch])
            ran = 0
            for job_id, run in batch:
                row = await _get(system, job_id)
                if row is None or not self.owns(row):
                    continue
                await run(writer)
                await self._set(system, row, state("success"))
                ran += 1
            return ran

        label = f"scheduled function {batch[0][0]}" if len(batch) == 1 else "scheduled mutations"
        return await self.kernel.transact(body, label=label)

    async def finish(self, outcomes: Sequence[tuple[str, Outcome]]) -> None:
        """Record finished runs (one transaction); rows no longer ours are left alone."""

        async def body(writer: DocumentWriter) -> None:
            system = writer.system_writer()
            await system.prefetch([job_id for job_id, _ in outcomes])
            for job_id, outcome in outcomes:
                row = await _get(system, job_id)
                if row is not None and self.owns(row):
                    await self._set(system, row, outcome)

        await self.kernel.transact(body, label="recording finished scheduled functions")

    async def release(self, job_ids: Sequence[str]) -> None:
        """Give claimed mutations that did not run back to ``pending``."""

        async def body(writer: DocumentWriter) -> None:
            system = writer.system_writer()
            for job_id in job_ids:
                if self.owns(await _get(system, job_id)):
                    await system.patch(job_id, {"state": state("pending"), "lease": REMOVE})

        await self.kernel.transact(body, label="releasing scheduled functions")

    async def heartbeat(self, job_ids: Sequence[str]) -> float:
        """Extend our lease on the rows we are still running; returns the new expiry."""

        async def body(writer: DocumentWriter) -> float:
            system = writer.system_writer()
            lease = self.lease(self.kernel.clock.now_ms())
            await system.prefetch(list(job_ids))
            for job_id in job_ids:
                if self.owns(await _get(system, job_id)):
                    await system.patch(job_id, {"lease": lease})
            return float(lease["expires"])

        return await self.kernel.transact(body, label="renewing scheduled function leases")

    async def reap(self) -> int:
        """Settle rows whose lease expired (their process died): a mutation goes back to
        ``pending``, an action becomes ``failed``. Returns how many were settled."""
        now = self.kernel.clock.now_ms()
        async with self.kernel.read_snapshot() as reader:
            expired = [row["_id"] for row in await self._running(reader) if _expired(row, now)]
        if not expired:
            return 0

        async def body(writer: DocumentWriter) -> int:
            system = writer.system_writer()
            settled = 0
            for job_id in expired:
                row = await _get(system, job_id)
                if row is None or row["state"]["kind"] != "inProgress" or not _expired(row, now):
                    continue
                kind = self._kind(row["name"])
                if kind == "mutation":
                    await system.patch(job_id, {"state": state("pending"), "lease": REMOVE})
                else:
                    error = DIED_ERROR if kind else f"no function {row['name']} in this app"
                    await self._set(system, row, failed(error))
                settled += 1
            return settled

        return await self.kernel.transact(body, label="settling expired scheduled functions")

    async def prune(self, cutoff: float, batch: int) -> int:
        """Delete up to ``batch`` rows that finished before ``cutoff``; how many were."""

        async def body(writer: DocumentWriter) -> int:
            system = writer.system_writer()
            index = await system.index_for(TABLE, COMPLETED_INDEX)
            assert index is not None
            builder = IndexRangeBuilder(COMPLETED_INDEX, ("completedTime",))
            lo, hi = (
                builder.gte("completedTime", float("-inf")).lt("completedTime", cutoff).bounds()
            )
            rows = await system.scan(index, lo, hi, False, batch)
            for _, doc in rows:
                if scheduled_row(doc)["state"]["kind"] in FINISHED:
                    await system.delete(doc["_id"])
            return len(rows)

        return await self.kernel.transact(body, label="pruning finished scheduled functions")

    async def _running(self, reader: DocumentReader) -> list[ScheduledFunctionRow]:
        system = reader.system
        index = await system.index_for(TABLE, STATE_INDEX)
        assert index is not None
        lo, hi = _range("inProgress")
        rows = await system.scan(index, lo, hi, False, _REAP_BATCH)
        return [scheduled_row(doc) for _, doc in rows]

    def _kind(self, name: str) -> str | None:
        try:
            return self.kernel.resolve(name).kind
        except FunctionNotFoundError:
            return None

    async def _set(
        self, system: DocumentWriter, row: ScheduledFunctionRow, outcome: Outcome
    ) -> None:
        now = self.kernel.clock.now_ms()
        await system.patch(row["_id"], {"state": outcome, "completedTime": now, "lease": REMOVE})
        await self.kernel.scheduling.state_changed(system, row, outcome, now)


def _expired(row: ScheduledFunctionRow, now: float) -> bool:
    return Leases.expired(row.get("lease"), now)


async def _get(system: DocumentReader, job_id: str) -> ScheduledFunctionRow | None:
    document = await system.get(job_id)
    return None if document is None else scheduled_row(document)
