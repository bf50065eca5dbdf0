"""Bringing ``_cron_jobs`` in line with the declared crons, by name, at start-up.

A new cron is added with its first tick after now; a changed one (function, arguments,
schedule or catch-up policy) is updated, its next run recomputed when the schedule itself
changed; a cron no longer declared is removed with its history. Each change is logged. The
whole reconciliation is one transaction, so processes starting together apply it once (the
others conflict, retry and find nothing to change).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .. import values
from ..errors import FunctionNotFoundError, NotAllowedError, SchemaError, ValidationError
from .jobs import CronJob
from .tables import BY_CRON_TICK, JOBS_TABLE, RUNS_TABLE

if TYPE_CHECKING:
    from ..db.store import DocumentWriter
    from ..kernel import Kernel

__all__ = ["Reconciled", "declared_specs", "reconcile"]

log = logging.getLogger("mainspring.crons")


@dataclass
class Reconciled:
    """What reconciliation changed, by cron name."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0


def declared_specs(runtime: Kernel, crons: Iterable[CronJob]) -> dict[str, dict[str, Any]]:
    """Each cron's stored fields; SchemaError naming the cron if its function or arguments
    do not fit (no such function, a query, arguments its signature refuses)."""
    specs: dict[str, dict[str, Any]] = {}
    for job in crons:
        try:
            definition = runtime.resolve(job.function)
        except (FunctionNotFoundError, NotAllowedError) as exc:
            raise SchemaError(f"cron {job.name!r}: {exc}") from None
        if definition.kind == "query":
            raise SchemaError(
                f"cron {job.name!r}: {definition.label} is a query (a cron runs a mutation or "
                "an action; a query has no effect)"
            )
        try:
            runtime.validate_args(definition, job.args)
        except ValidationError as exc:
            raise SchemaError(f"cron {job.name!r}: {exc}") from None
        spec: dict[str, Any] = {
            "function": definition.path,
            "args": job.args,
            "schedule": job.schedule.to_json(),
            "catchUp": job.catch_up,
        }
        spec["spec"] = values.dumps(spec, f"cron {job.name!r}")
        specs[job.name] = spec
    return specs


def _when(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def _delete_history(system: DocumentWriter, name: str) -> None:
    runs = await (
        system.query(RUNS_TABLE).with_index(BY_CRON_TICK, lambda q: q.eq("cron", name)).collect()
    )
    for run in runs:
        await system.delete(run["_id"])


async def reconcile(runtime: Kernel, crons: Iterable[CronJob]) -> Reconciled:
    """Apply the declared crons to ``_cron_jobs``; what changed."""
    from .schedule import schedule_from_json

    specs = declared_specs(runtime, crons)

    async def body(writer: DocumentWriter) -> Reconciled:
        system = writer.system_writer()
        now = runtime.clock.now_ms()
        result = Reconciled()
        existing = {row["name"]: row for row in await system.query(JOBS_TABLE).collect()}
        for name, spec in specs.items():
            row = existing.pop(name, None)
            schedule = schedule_from_json(spec["schedule"])
            if row is None:
                first = schedule.next_after(now, now)
                fields = {"name": name, **spec, "anchor": now, "nextRun": first, "kept": 0}
                await system.insert(JOBS_TABLE, fields)
                result.added.append(name)
                log.info("cron %r added: %s, next run %s", name, schedule.describe(), _when(first))
            elif row["spec"] != spec["spec"]:
                patch = dict(spec)
                if values.dumps(row["schedule"], name) != values.dumps(spec["schedule"], name):
                    patch["anchor"] = now
                    patch["nextRun"] = schedule.next_after(now, now)
                await system.patch(row["_id"], patch)
                result.updated.append(name)
                next_run = patch.get("nextRun", row["nextRun"])
                log.info(
                    "cron %r updated: %s, next run %s", name, schedule.describe(), _when(next_run)
                )
            else:
                result.unchanged += 1
        for name, row in existing.items():
            await _delete_history(system, name)
            await system.delete(row["_id"])
            result.removed.append(name)
            log.info("cron %r removed (no longer declared)", name)
        return result

    return await runtime.transact(body, label="reconciling crons")
