"""The work pools' :class:`~mainspring.lease.store.LeaseStore`: a dispatcher's reads and
writes of ``_workpool_items`` — claims under a hard cap, outcomes, leases, reaping, pruning.

**The cap.** A claim runs in the backend's claim transaction (READ COMMITTED with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, see :mod:`mainspring.db.base`). It first locks the
pool's own ``_workpools`` index entry: claims of one pool are thus serialized across every
process (a claimer that finds it locked skips the pool for a few milliseconds instead of
waiting). Holding it, the claim counts the pool's running items — at READ COMMITTED each
statement sees every commit made before it, including the previous claim's — and marks at
most ``maxParallelism - running`` due pending items running. Only claims ever add running
items; everything else (outcomes, reaping, cancels) only removes them, so the count can be
stale only on the safe side and the cap is never exceeded.

A claim goes through the pools in random order (no pool always goes first), one claim
transaction each. Where claims are serializable (SQLite), due mutation items run inside their
pool's claim transaction, success and ``on_complete`` included; if one raises, that pool is
claimed again the plain way and the item runs (and fails) on its own.

Every other change checks, in a SERIALIZABLE transaction of its own, that the item is still
``running`` under this dispatcher's lease: a canceled, reaped or taken-over item is left alone.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ..db.store import REMOVE, DocumentReader, DocumentWriter
from ..errors import FunctionNotFoundError
from ..lease.store import Claim, InlineMutations, Leased, Leases, MutationBody
from .hub import pool_names
from .items import (
    DIED_ERROR,
    ITEMS,
    POOL_INDEX,
    POOLS,
    STATUS_INDEX,
    WorkItemRow,
    WorkResult,
    canceled,
    failed,
    item_row,
    pool_key_range,
    status_range,
    success,
)
from .policy import retryable
from .settle import OnCompleteFailed, complete, settle

if TYPE_CHECKING:
    from .hub import PoolsKernel

__all__ = ["ItemStore", "Outcome", "leased"]

_REAP_BATCH = 500
#: Pool names are re-read this often (new pools also arrive with their first enqueue).
_POOLS_REFRESH_MS = 2000.0


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: its result and whether a failure may be retried."""

    result: WorkResult
    retryable: bool = False


def leased(row: WorkItemRow) -> Leased:
    """The engine's view of an item marked running under a lease."""
    lease = row.get("lease")
    assert lease is not None, "a claimed item holds a lease"
    return Leased(row["_id"], row["name"], row["args"], float(lease["expires"]), cast(Any, row))


async def _with_callback_retries(
    run: Callable[[dict[str, str]], Awaitable[Any]],
) -> Any:
    """Run ``run(skip)``; each ``OnCompleteFailed`` adds its item to ``skip`` and runs again."""
    skip: dict[str, str] = {}
    while True:
        try:
            return await run(skip)
        except OnCompleteFailed as exc:
            if exc.item_id in skip:
                raise
            skip[exc.item_id] = exc.error


class ItemStore:
    """Claims, outcomes, heartbeats, reaping and pruning for one dispatcher (``owner``)."""

    what = "work items"
    noun = "work item"

    def __init__(self, kernel: PoolsKernel, owner: str, lease_ms: float) -> None:
        self.kernel = kernel
        self.owner = owner
        self.leases = Leases(owner, lease_ms)
        self._pools: list[str] = []
        self._pools_read = float("-inf")
        self._generation = -1

    def owns(self, row: WorkItemRow | None) -> bool:
        """True if ``row`` is running under this dispatcher's lease."""
        return row is not None and row["status"] == "running" and self.leases.held(row.get("lease"))

    # -- outcomes -----------------------------------------------------------------------------

    def success(self, value: Any) -> Outcome:
        """An attempt that returned ``value``."""
        return Outcome(success(value))

    def failure(self, error: str, *, retryable: bool) -> Outcome:
        """A failed attempt; retried per the item's policy when ``retryable``."""
        return Outcome(failed(error), retryable=retryable)

    def retryable(self, exc: BaseException) -> bool:
        """Whether the item's policy may retry after ``exc`` (not a NonRetryableError…)."""
        return retryable(exc)

    @contextlib.contextmanager
    def running(self, run: Leased) -> Iterator[None]:
        """Nothing to set up around a work item's action."""
        yield

    # -- claims -------------------------------------------------------------------------------

    async def pool_names(self) -> list[str]:
        """The pools with a row, re-read every couple of seconds and after an announcement
        (the work may be in a pool new to this process)."""
        now = self.kernel.clock.now_ms()
        generation = self.kernel.workpools.generation
        stale = now - self._pools_read >= _POOLS_REFRESH_MS or generation != self._generation
        if stale or not self._pools:
            async with self.kernel.read_snapshot() as reader:
                self._pools = await pool_names(reader)
            self._pools_read, self._generation = now, generation
        return self._pools

    async def claim(self, limit: int, inline: InlineMutations | None = None) -> Claim:
        """Mark up to ``limit`` due pending items running, each pool within its cap; with
        ``inline``, run the due mutation items in their pool's claim transaction instead."""
        total = Claim()
        pools = await self.pool_names()
        left = limit
        for pool in random.sample(pools, len(pools)):
            if left <= 0:
                break
            claim: Claim | None = None
            if inline is not None:
                try:
                    claim = await self._claim_pool(pool, left, inline)
                except Exception:
                    claim = None  # a mutation failed: claim it the plain way, it fails alone
            if claim is None:
                claim = await self._claim_pool(pool, left, None)
            total.runs += claim.runs
            total.ran += claim.ran
            total.busy = total.busy or claim.busy
            total.capped = total.capped or claim.capped
            left -= len(claim.runs) + claim.ran
        total.full = left <= 0
        return total

    async def _claim_pool(self, pool: str, limit: int, inline: InlineMutations | None) -> Claim:
        async def attempt(skip: dict[str, str]) -> Claim:
            async def body(writer: DocumentWriter) -> Claim:
                return await self._claim_in(writer, pool, limit, inline, skip)

            label = f"claiming work of pool {pool}"
            return await self.kernel.transact(body, label=label, claim=True)

        claim: Claim = await _with_callback_retries(attempt)
        return claim

    async def _claim_in(
        self,
        writer: DocumentWriter,
        pool: str,
        limit: int,
        inline: InlineMutations | None,
        skip: dict[str, str],
    ) -> Claim:
        system = writer.system_writer()
        pools = await system.index_for(POOLS, POOL_INDEX)
        items = await system.index_for(ITEMS, STATUS_INDEX)
        if pools is None or items is None:
            return Claim()
        held = await system.claim(pools, *pool_key_range(pool), 1)
        if not held:  # locked by another claimer, or (SQLite) no such pool
            return Claim(busy=self.kernel.database.dialect != "sqlite")
        cap = int(held[0]["maxParallelism"])
        if cap <= 0:
            return Claim(capped=True)
        running = await system.count(items, *status_range(pool, "running"), cap)
        free = min(cap - running, limit)
        if free <= 0:
            return Claim(capped=True)
        now = self.kernel.clock.now_ms()
        due = status_range(pool, "pending", through=now)
        rows = [item_row(doc) for doc in await system.claim(items, *due, free)]
        lease = self.leases.take(now)
        claim = Claim()
        for row in rows:
            await system.patch(
                row["_id"], {"status": "running", "lease": lease, "startedTime": now}
            )
            row["status"], row["lease"] = "running", lease
            run = leased(row)
            mutation = inline(run) if inline is not None and row["kind"] == "mutation" else None
            if mutation is None:
                claim.runs.append(run)
                continue
            value = await mutation(writer)
            await settle(
                self.kernel, writer, row, success(value), retryable=False,
                skip_callback=skip.get(row["_id"]),
            )  # fmt: skip
            claim.ran += 1
        claim.capped = running + len(claim.runs) >= cap
        return claim

    async def next_due(self, after: float | None = None) -> float | None:
        """The earliest ``runAt`` of a pending item (later than ``after``) in an unpaused
        pool, if any."""
        async with self.kernel.read_snapshot() as reader:
            system = reader.system
            items = await system.index_for(ITEMS, STATUS_INDEX)
            pools = await system.index_for(POOLS, POOL_INDEX)
            if items is None or pools is None:
                return None
            best: float | None = None
            for _, pool in await system.scan(pools, b"", None, False, 10_000):
                if int(pool["maxParallelism"]) <= 0:
                    continue
                lo, hi = status_range(pool["name"], "pending", after=after)
                rows = await system.scan(items, lo, hi, False, 1)
                if rows and (best is None or rows[0][1]["runAt"] < best):
                    best = float(rows[0][1]["runAt"])
            return best

    async def run_mutations(self, batch: Sequence[tuple[str, MutationBody]]) -> int:
        """In one transaction: for each item still ours, run its body, record its success
        and run ``on_complete`` (an item whose cancel was requested finishes ``canceled``
        instead). Items no longer ours are skipped; how many ran. An exception from a body
        rolls all of them back and propagates (an ``on_complete`` that raises is recorded on
        its item and the transaction runs again without calling it)."""

        async def attempt(skip: dict[str, str]) -> int:
            async def body(writer: DocumentWriter) -> int:
                system = writer.system_writer()
                if len(batch) > 1:
                    await system.prefetch([item_id for item_id, _ in batch])
                ran = 0
                for item_id, run in batch:
                    row = await _get(system, item_id)
                    if row is None or not self.owns(row):
                        continue
                    ran += 1
                    if row.get("cancelRequested"):
                        await complete(
                            self.kernel, writer, row, canceled(), skip_callback=skip.get(item_id)
                        )
                        continue
                    value = await run(writer)
                    await settle(
                        self.kernel, writer, row, success(value), retryable=False,
                        skip_callback=skip.get(item_id),
                    )  # fmt: skip
                return ran

            label = f"work item {batch[0][0]}" if len(batch) == 1 else "work item mutations"
            return await self.kernel.transact(body, label=label)

        return int(await _with_callback_retries(attempt))

    async def finish(self, outcomes: Sequence[tuple[str, Outcome]]) -> None:
        """Record finished attempts (one transaction); items no longer ours are left alone."""

        async def attempt(skip: dict[str, str]) -> None:
            async def body(writer: DocumentWriter) -> None:
                # One round trip for the whole batch instead of one per item.
                await writer.system_writer().prefetch([item_id for item_id, _ in outcomes])
                for item_id, outcome in outcomes:
                    row = await _get(writer.system_writer(), item_id)
                    if self.owns(row):
                        assert row is not None
                        await settle(
                            self.kernel, writer, row, outcome.result,
                            retryable=outcome.retryable, skip_callback=skip.get(item_id),
                        )  # fmt: skip

            await self.kernel.transact(body, label="recording finished work items")

        await _with_callback_retries(attempt)

    async def release(self, item_ids: Sequence[str]) -> None:
        """Give claimed items that did not run back to ``pending`` (no attempt counted)."""

        async def body(writer: DocumentWriter) -> None:
            system = writer.system_writer()
            for item_id in item_ids:
                if self.owns(await _get(system, item_id)):
                    await system.patch(item_id, {"status": "pending", "lease": REMOVE})

        await self.kernel.transact(body, label="releasing work items")

    async def heartbeat(self, item_ids: Sequence[str]) -> float:
        """Extend our lease on the items we still run; returns the new expiry."""

        async def body(writer: DocumentWriter) -> float:
            system = writer.system_writer()
            lease = self.leases.take(self.kernel.clock.now_ms())
            for item_id in item_ids:
                if self.owns(await _get(system, item_id)):
                    await system.patch(item_id, {"lease": lease})
            return float(lease["expires"])

        return await self.kernel.transact(body, label="renewing work item leases")

    async def reap(self) -> int:
        """Settle running items whose lease expired (their process died): a mutation goes
        back to ``pending`` (nothing of it committed), an action's attempt counts as failed
        (retried if its policy allows, else finished ``failed``). How many were settled."""
        now = self.kernel.clock.now_ms()
        expired: list[str] = []
        async with self.kernel.read_snapshot() as reader:
            items = await reader.system.index_for(ITEMS, STATUS_INDEX)
            if items is None:
                return 0
            for pool in await pool_names(reader):
                lo, hi = status_range(pool, "running")
                rows = await reader.system.scan(items, lo, hi, False, _REAP_BATCH)
                expired += [doc["_id"] for _, doc in rows if _expired(item_row(doc), now)]
        if not expired:
            return 0

        async def attempt(skip: dict[str, str]) -> int:
            async def body(writer: DocumentWriter) -> int:
                system = writer.system_writer()
                settled = 0
                for item_id in expired:
                    row = await _get(system, item_id)
                    if row is None or row["status"] != "running" or not _expired(row, now):
                        continue
                    if row["kind"] == "mutation" and self._exists(row["name"]):
                        await system.patch(item_id, {"status": "pending", "lease": REMOVE})
                    else:
                        await settle(
                            self.kernel, writer, row, failed(DIED_ERROR), retryable=True,
                            skip_callback=skip.get(item_id),
                        )  # fmt: skip
                    settled += 1
                return settled

            return await self.kernel.transact(body, label="settling expired work items")

        return int(await _with_callback_retries(attempt))

    async def prune(self, cutoff: float, batch: int) -> int:
        """Delete up to ``batch`` items that finished before ``cutoff``; how many were.

        Finished items are found through ``by_pool_status`` (``runAt`` never exceeds
        ``completedTime``, so every candidate has ``runAt`` before the cutoff): a separate
        completion-time index would cost two more index writes on every finish."""
        async with self.kernel.read_snapshot() as reader:
            pools = await pool_names(reader)
        total = 0
        for pool in pools:
            lo, hi = status_range(pool, "finished", through=cutoff)
            while total < batch:
                limit = batch - total

                async def body(
                    writer: DocumentWriter,
                    lo: bytes = lo,
                    hi: bytes | None = hi,
                    limit: int = limit,
                ) -> tuple[bytes, int, int]:
                    system = writer.system_writer()
                    index = await system.index_for(ITEMS, STATUS_INDEX)
                    rows = [] if index is None else await system.scan(index, lo, hi, False, limit)
                    deleted = 0
                    for _, row in rows:
                        if float(row.get("completedTime", cutoff)) < cutoff:
                            await system.delete(row["_id"])
                            deleted += 1
                    return (rows[-1][0] if rows else lo), len(rows), deleted

                last, scanned, deleted = await self.kernel.transact(
                    body, label="pruning finished work items"
                )
                total += deleted
                if scanned < limit:
                    break
                lo = last + b"\x00"
        return total

    def _exists(self, name: str) -> bool:
        try:
            self.kernel.resolve(name)
        except FunctionNotFoundError:
            return False
        return True


def _expired(row: WorkItemRow, now: float) -> bool:
    return Leases.expired(row.get("lease"), now)


async def _get(system: DocumentReader, item_id: str) -> WorkItemRow | None:
    document = await system.get(item_id)
    return None if document is None else item_row(document)
