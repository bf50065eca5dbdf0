"""``Workpool``: declared once at module level, used from mutations and actions::

    # backend/pools.py
    email_pool = Workpool("emails", max_parallelism=3, retry=RetryPolicy(max_attempts=5))

    # backend/emails.py
    work_id = await email_pool.enqueue_action(
        ctx, internal.emails.send, {"to": to}, on_complete=internal.emails.sent, context={...}
    )

From a mutation, enqueueing (and canceling) happens in the mutation's transaction: rolled
back with it. From an action, each call commits at once. Everything that can be checked is
checked at the call: the function's kind and arguments, the ``on_complete`` mutation's
signature, the context value and the start time.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .. import values
from ..context import ActionCtx, MutationCtx, QueryCtx, scope_of
from ..db.store import DocumentReader, DocumentWriter
from ..errors import NotAllowedError, SchemaError, ValidationError
from ..scheduling.jobs import delay_ms, time_ms
from .items import (
    ITEMS,
    STATUS_INDEX,
    WorkItemRow,
    WorkStatus,
    canceled,
    item_row,
    public_status,
    status_range,
)
from .policy import RetryPolicy
from .settle import complete

if TYPE_CHECKING:
    from .hub import PoolsKernel

__all__ = ["Workpool", "cancel_row"]

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_T = TypeVar("_T")
#: cancel_all from a mutation ends at most this many items (one transaction).
CANCEL_BATCH = 1000


#: What a work pool's methods take: the ctx of the calling mutation or action.
WritingCtx = MutationCtx | ActionCtx
AnyCtx = QueryCtx | MutationCtx | ActionCtx


def _runtime(ctx: object) -> PoolsKernel:
    # The kernel behind a ctx is the runtime, which holds the work pools' hub too.
    return cast("PoolsKernel", scope_of(ctx).runtime)


async def _transact(ctx: object, body: Callable[[DocumentWriter], Awaitable[_T]], label: str) -> _T:
    """``body`` in the mutation's transaction, or in one of its own from an action."""
    scope = scope_of(ctx)
    if scope.writer is not None:
        return await body(scope.writer)
    if scope.reader is not None:
        raise NotAllowedError(f"{label}: a query cannot change work (call it from a mutation)")
    return await scope.runtime.transact(body, label=label)


class Workpool:
    """A named queue of background work run at most ``max_parallelism`` at a time across
    every process, retrying failed actions per ``retry`` (None: no retries; True: the
    default :class:`RetryPolicy`)."""

    def __init__(
        self,
        name: str,
        *,
        max_parallelism: int = 10,
        retry: RetryPolicy | bool | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise SchemaError(
                f"Workpool name {name!r}: use 1-64 letters, digits, '_', '.', ':' or '-'"
            )
        if isinstance(max_parallelism, bool) or not isinstance(max_parallelism, int):
            raise SchemaError(f"Workpool {name!r}: max_parallelism must be an int")
        if not 0 <= max_parallelism <= 10_000:
            raise SchemaError(
                f"Workpool {name!r}: max_parallelism must be 0 (paused) to 10000, "
                f"got {max_parallelism}"
            )
        self.name = name
        self.max_parallelism = max_parallelism
        self.retry = self._policy(retry, None)

    def __repr__(self) -> str:
        return f"Workpool({self.name!r}, max_parallelism={self.max_parallelism})"

    @staticmethod
    def _policy(
        retry: RetryPolicy | bool | None, default: RetryPolicy | None
    ) -> RetryPolicy | None:
        if retry is None:
            return default
        if retry is True:
            return default or RetryPolicy()
        if retry is False:
            return None
        if not isinstance(retry, RetryPolicy):
            raise ValidationError(f"retry must be a RetryPolicy, True or False, got {retry!r}")
        return retry

    # -- enqueue ------------------------------------------------------------------------------

    async def enqueue_action(
        self,
        ctx: WritingCtx,
        function: Any,
        args: dict[str, Any] | None = None,
        *,
        on_complete: Any = None,
        context: Any = None,
        run_after: float | timedelta | None = None,
        run_at: float | datetime | None = None,
        retry: RetryPolicy | bool | None = None,
    ) -> str:
        """Queue ``function(args)`` (an action); returns the work id. ``retry`` overrides
        the pool's policy for this item (False: never retried)."""
        ids = await self._enqueue(
            ctx, "action", function, [args], on_complete, context, run_after, run_at, retry
        )
        return ids[0]

    async def enqueue_mutation(
        self,
        ctx: WritingCtx,
        function: Any,
        args: dict[str, Any] | None = None,
        *,
        on_complete: Any = None,
        context: Any = None,
        run_after: float | timedelta | None = None,
        run_at: float | datetime | None = None,
    ) -> str:
        """Queue ``function(args)`` (a mutation: exactly once, retried only on transient
        faults); returns the work id."""
        ids = await self._enqueue(
            ctx, "mutation", function, [args], on_complete, context, run_after, run_at, False
        )
        return ids[0]

    async def enqueue_action_batch(
        self,
        ctx: WritingCtx,
        function: Any,
        args: Sequence[dict[str, Any] | None],
        *,
        on_complete: Any = None,
        context: Any = None,
        run_after: float | timedelta | None = None,
        run_at: float | datetime | None = None,
        retry: RetryPolicy | bool | None = None,
    ) -> list[str]:
        """Queue one action run per element of ``args``, in one transaction; their ids."""
        return await self._enqueue(
            ctx, "action", function, args, on_complete, context, run_after, run_at, retry
        )

    async def enqueue_mutation_batch(
        self,
        ctx: WritingCtx,
        function: Any,
        args: Sequence[dict[str, Any] | None],
        *,
        on_complete: Any = None,
        context: Any = None,
        run_after: float | timedelta | None = None,
        run_at: float | datetime | None = None,
    ) -> list[str]:
        """Queue one mutation run per element of ``args``, in one transaction; their ids."""
        return await self._enqueue(
            ctx, "mutation", function, args, on_complete, context, run_after, run_at, False
        )

    def _start_time(
        self,
        runtime: PoolsKernel,
        run_after: float | timedelta | None,
        run_at: float | datetime | None,
    ) -> float:
        if run_after is not None and run_at is not None:
            raise ValidationError(f"Workpool {self.name!r}: give run_after or run_at, not both")
        if run_at is not None:
            return time_ms(run_at)
        return runtime.clock.now_ms() + (delay_ms(run_after) if run_after is not None else 0.0)

    def _callback(self, runtime: PoolsKernel, on_complete: Any, context: Any) -> str | None:
        where = f"Workpool {self.name!r}: context"
        values.check_value(context, where)
        if on_complete is None:
            return None
        definition = runtime.resolve(on_complete)
        if definition.kind != "mutation":
            raise NotAllowedError(
                f"on_complete {definition.label} is a {definition.kind}; it must be a mutation "
                "(it runs in the transaction that finishes the work)"
            )
        sample = {"work_id": "", "context": context, "result": canceled()}
        try:
            definition.validate_args(sample)
        except ValidationError as exc:
            raise ValidationError(
                f"on_complete {definition.label} must take (ctx, work_id, context, result): {exc}"
            ) from None
        assert definition.path is not None
        return definition.path

    async def _enqueue(
        self,
        ctx: WritingCtx,
        kind: str,
        function: Any,
        args: Sequence[dict[str, Any] | None],
        on_complete: Any,
        context: Any,
        run_after: float | timedelta | None,
        run_at: float | datetime | None,
        retry: RetryPolicy | bool | None,
    ) -> list[str]:
        runtime = _runtime(ctx)
        definition = runtime.resolve(function)
        if definition.kind != kind:
            raise NotAllowedError(
                f"Workpool {self.name!r}: {definition.label} is a {definition.kind}; use "
                f"enqueue_{definition.kind} (queries cannot be enqueued)"
                if definition.kind != "query"
                else f"Workpool {self.name!r}: {definition.label} is a query: enqueue a "
                "mutation or an action"
            )
        assert definition.path is not None
        when = self._start_time(runtime, run_after, run_at)
        callback = self._callback(runtime, on_complete, context)
        policy = self._policy(retry, self.retry) if kind == "action" else None
        rows = []
        for one in args:
            one = {} if one is None else one
            if not isinstance(one, dict):
                raise ValidationError(
                    f"enqueueing {definition.label}: arguments must be a dict, "
                    f"got {type(one).__name__}"
                )
            runtime.validate_args(definition, one)
            row: dict[str, Any] = {
                "pool": self.name,
                "name": definition.path,
                "kind": kind,
                "args": one,
                "status": "pending",
                "runAt": when,
                "attempts": 0,
            }
            if policy is not None:
                row["retry"] = policy.to_row()
            if callback is not None:
                row["onComplete"], row["context"] = callback, context
            rows.append(row)

        async def body(writer: DocumentWriter) -> list[str]:
            system = writer.system_writer()
            await runtime.workpools.ensure_pool(writer, self)
            ids = [await system.insert(ITEMS, row) for row in rows]
            if ids:
                await runtime.workpools.announce_on_commit(writer, when)
            return ids

        return await _transact(ctx, body, f"enqueueing {definition.label} on {self.name!r}")

    # -- status and cancel --------------------------------------------------------------------

    def _check_id(self, reader: DocumentReader, work_id: Any) -> str:
        if not isinstance(work_id, str) or reader.system.normalize_id(ITEMS, work_id) is None:
            raise ValidationError(f"Workpool {self.name!r}: {work_id!r} is not a work id")
        return work_id

    def _check_row(self, document: dict[str, Any] | None) -> WorkItemRow | None:
        row = None if document is None else item_row(document)
        if row is not None and row["pool"] != self.name:
            raise ValidationError(
                f"work item {row['_id']} belongs to pool {row['pool']!r}, not {self.name!r}"
            )
        return row

    async def status(self, ctx: AnyCtx, work_id: str) -> WorkStatus:
        """``{"state": "pending" | "running", "previousAttempts": n}`` or
        ``{"state": "finished", "result": {...}}`` (also for items pruned since)."""
        scope = scope_of(ctx)
        if scope.reader is not None:
            db = scope.reader
            row = await db.system.get(self._check_id(db, work_id))
            return public_status(self._check_row(row))
        async with scope.runtime.read_snapshot() as reader:
            row = await reader.system.get(self._check_id(reader, work_id))
        return public_status(self._check_row(row))

    async def cancel(self, ctx: WritingCtx, work_id: str) -> None:
        """Cancel one item: pending, it finishes ``canceled`` now (``on_complete`` runs);
        running, it is not retried and finishes ``canceled`` when its attempt ends. No
        effect on finished items."""

        async def body(writer: DocumentWriter) -> None:
            row = self._check_row(await writer.system.get(self._check_id(writer, work_id)))
            if row is not None:
                await cancel_row(_runtime(ctx), writer, row)

        await _transact(ctx, body, f"canceling work in {self.name!r}")

    async def cancel_all(self, ctx: WritingCtx) -> int:
        """Cancel every pending and running item of this pool; how many. From a mutation,
        at most 1000 (one transaction; call again for more); from an action, all."""
        runtime = _runtime(ctx)
        total = 0
        while True:

            async def body(writer: DocumentWriter) -> int:
                system = writer.system_writer()
                index = await system.index_for(ITEMS, STATUS_INDEX)
                if index is None:
                    return 0
                count = 0
                for status in ("pending", "running"):
                    lo, hi = status_range(self.name, status)
                    for _, doc in await system.scan(index, lo, hi, False, CANCEL_BATCH - count):
                        if await cancel_row(runtime, writer, item_row(doc)):
                            count += 1
                    if count >= CANCEL_BATCH:
                        break
                return count

            done = await _transact(ctx, body, f"canceling all work in {self.name!r}")
            total += done
            if scope_of(ctx).writer is not None or done < CANCEL_BATCH:
                return total


async def cancel_row(runtime: PoolsKernel, writer: DocumentWriter, row: WorkItemRow) -> bool:
    """Cancel one item row; True if it was pending, or running and not yet told to cancel."""
    if row["status"] == "pending":
        await complete(runtime, writer, row, canceled())
        return True
    if row["status"] == "running" and not row.get("cancelRequested"):
        await writer.system_writer().patch(row["_id"], {"cancelRequested": True})
        return True
    return False
