"""``ctx.scheduler``: ``run_after``, ``run_at`` and ``cancel``.

In a mutation, scheduling writes a ``_scheduled_functions`` row in the mutation's own
transaction, so a mutation that fails schedules nothing; in an action, each call commits at
once in a small transaction of its own. Everything that can be checked is checked at the
call, with an error naming the problem: the delay or time, the function (it must exist and
not be a query), its arguments (against its signature) and the per-call limits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import values
from ..db.store import REMOVE, DocumentWriter
from ..errors import NotAllowedError, ValidationError
from .jobs import (
    FINISHED,
    MAX_ARGS_BYTES,
    MAX_PER_CALL,
    TABLE,
    Lease,
    current_job,
    delay_ms,
    scheduled_row,
    state,
    time_ms,
)

if TYPE_CHECKING:
    from .service import SchedulingKernel

__all__ = ["ActionScheduler", "MutationScheduler"]


class _Checks:
    """What both schedulers check before anything is written."""

    def __init__(self, runtime: SchedulingKernel) -> None:
        self._runtime = runtime
        self._count = 0
        self._bytes = 0

    def _check(self, function: Any, args: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        definition = self._runtime.resolve(function)
        if definition.kind == "query":
            raise NotAllowedError(
                f"cannot schedule {definition.label}: it is a query (schedule a mutation or an "
                "action; a query has no effect)"
            )
        args = {} if args is None else args
        if not isinstance(args, dict):
            raise ValidationError(
                f"scheduling {definition.label}: arguments must be a dict, "
                f"got {type(args).__name__}"
            )
        self._runtime.validate_args(definition, args)
        size = len(values.dumps(args, f"scheduling {definition.label}: arguments").encode())
        if self._count + 1 > MAX_PER_CALL:
            raise ValidationError(
                f"scheduling {definition.label}: a function may schedule at most "
                f"{MAX_PER_CALL} functions"
            )
        if self._bytes + size > MAX_ARGS_BYTES:
            raise ValidationError(
                f"scheduling {definition.label}: the arguments of the functions one function "
                f"schedules may total at most {MAX_ARGS_BYTES // (1024 * 1024)} MiB"
            )
        self._count += 1
        self._bytes += size
        assert definition.path is not None  # resolve() returns registered functions
        return definition.path, args


class MutationScheduler(_Checks):
    """``ctx.scheduler`` in a mutation: rows written in the mutation's transaction."""

    def __init__(self, runtime: SchedulingKernel, writer: DocumentWriter) -> None:
        super().__init__(runtime)
        self._writer = writer

    async def run_after(
        self, delay: float | timedelta, function: Any, args: dict[str, Any] | None = None
    ) -> str:
        """Run ``function(args)`` ``delay`` ms (or a timedelta) after this mutation commits."""
        when = self._runtime.clock.now_ms() + delay_ms(delay)
        name, checked = self._check(function, args)
        return await self.insert(name, checked, when)

    async def run_at(
        self, when: float | datetime, function: Any, args: dict[str, Any] | None = None
    ) -> str:
        """Run ``function(args)`` at ``when`` (ms since the epoch or an aware datetime)."""
        at = time_ms(when)
        name, checked = self._check(function, args)
        return await self.insert(name, checked, at)

    async def cancel(self, job_id: str) -> None:
        """Cancel a scheduled function: pending, it never runs; running (an action), it
        runs on but whatever it schedules from now on is canceled. Finished: no effect."""
        system = self._writer.system_writer()
        if not isinstance(job_id, str) or system.normalize_id(TABLE, job_id) is None:
            raise ValidationError(f"cancel: {job_id!r} is not an id of {TABLE}")
        document = await system.get(job_id)
        if document is None:
            return
        row = scheduled_row(document)
        if row["state"]["kind"] in FINISHED:
            return
        now = self._runtime.clock.now_ms()
        await system.patch(
            job_id, {"state": state("canceled"), "completedTime": now, "lease": REMOVE}
        )
        await self._runtime.scheduling.state_changed(system, row, state("canceled"), now)

    async def insert(
        self,
        name: str,
        args: dict[str, Any],
        when: float,
        *,
        extra: dict[str, Any] | None = None,
        lease: Lease | None = None,
    ) -> str:
        """Write the row for an already checked call; announce it when this commits.

        ``extra`` adds Mainspring's own fields to the row (a cron's ``cron`` back-reference).
        With a ``lease`` the row is written already ``inProgress`` under it: the caller's
        executor runs it once this commits, and nobody else is told.
        """
        system = self._writer.system_writer()
        row: dict[str, Any] = {"name": name, "args": [args], "scheduledTime": when, **(extra or {})}
        if await self._origin_canceled(system):
            row["state"] = state("canceled")
            row["completedTime"] = self._runtime.clock.now_ms()
            return await system.insert(TABLE, row)
        if lease is not None:
            row["state"], row["lease"] = state("inProgress"), lease
            return await system.insert(TABLE, row)
        row["state"] = state("pending")
        job_id = await system.insert(TABLE, row)
        await self._runtime.scheduling.announce_on_commit(self._writer, when)
        return job_id

    async def _origin_canceled(self, system: DocumentWriter) -> bool:
        origin = current_job.get()
        if origin is None:
            return False
        row = await system.get(origin)
        return row is not None and row["state"]["kind"] == "canceled"


class ActionScheduler(_Checks):
    """``ctx.scheduler`` in an action: each call commits at once, in its own transaction."""

    async def run_after(
        self, delay: float | timedelta, function: Any, args: dict[str, Any] | None = None
    ) -> str:
        """Run ``function(args)`` ``delay`` ms (or a timedelta) from now."""
        when = self._runtime.clock.now_ms() + delay_ms(delay)
        name, checked = self._check(function, args)
        return await self._insert(name, checked, when)

    async def run_at(
        self, when: float | datetime, function: Any, args: dict[str, Any] | None = None
    ) -> str:
        """Run ``function(args)`` at ``when`` (ms since the epoch or an aware datetime)."""
        at = time_ms(when)
        name, checked = self._check(function, args)
        return await self._insert(name, checked, at)

    async def cancel(self, job_id: str) -> None:
        """Cancel a scheduled function (see :meth:`MutationScheduler.cancel`)."""
        await self._runtime.transact(
            lambda writer: MutationScheduler(self._runtime, writer).cancel(job_id),
            label="ctx.scheduler.cancel",
        )

    async def _insert(self, name: str, args: dict[str, Any], when: float) -> str:
        return await self._runtime.transact(
            lambda writer: MutationScheduler(self._runtime, writer).insert(name, args, when),
            label=f"scheduling {name}",
        )
