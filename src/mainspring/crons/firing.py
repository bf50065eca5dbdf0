"""Deciding a cron's due ticks: fire, skip or wait — once per tick across all processes.

Firing is a SERIALIZABLE transaction per batch of due crons: it re-reads each cron row,
checks that no ``_cron_runs`` row exists for ``(cron, tick)``, records the run and inserts
the ``_scheduled_functions`` row that runs the function, and moves ``nextRun`` on. Two
processes deciding the same tick read and write the same rows, so one of them fails to
commit, retries, and finds the tick decided: every tick fires at most once, without a
leader. The function then runs through the scheduler (a mutation exactly once, an action
at most once) with no identity.

What to do with the due ticks ``[nextRun, now]`` (:func:`decide`):

* the latest due tick fires unless the previous run is still going (then it is skipped and
  recorded) or, with ``catch_up="skip"``, it is more than :data:`ON_TIME_MS` late;
* older due ticks were missed (nothing was running, or the process was blocked): with
  ``skip`` and ``latest`` they are recorded as one skipped run; with ``all`` they fire one at
  a time, oldest first, each once the previous run has finished (at most
  :data:`MAX_CATCH_UP` of them; any older are skipped).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..scheduling.jobs import TABLE as SCHEDULED_TABLE
from ..scheduling.jobs import Lease
from ..scheduling.scheduler import MutationScheduler
from .history import record_run, trim_history
from .schedule import Schedule, schedule_from_json
from .tables import BY_CRON_TICK, MAX_CATCH_UP, ON_TIME_MS, RUNS_TABLE, CronJobRow, cron_row

if TYPE_CHECKING:
    from ..db.store import DocumentWriter
    from ..scheduling.executor import Executor
    from ..scheduling.service import SchedulingKernel

__all__ = ["Decision", "Fired", "decide", "fire_crons"]

log = logging.getLogger("mainspring.crons")

_RUNNING = ("pending", "inProgress")
#: Counting a long outage's missed ticks stops here (the count is for the history only).
_COUNT_CAP = 100_000


@dataclass
class Decision:
    """What to do with one cron's due ticks."""

    fire: float | None
    next_run: float
    #: (first tick, how many ticks, why) — each becomes one ``skipped`` run row.
    skipped: list[tuple[float, int, str]] = field(default_factory=list)


def decide(
    schedule: Schedule,
    anchor: float,
    next_run: float,
    now: float,
    catch_up: str,
    running: bool,
) -> Decision:
    """What to do at ``now`` with a cron whose first undecided tick is ``next_run``."""
    latest = schedule.latest_at_or_before(now, anchor)
    if latest is None or latest < next_run:  # nothing due (a clock set back, a new anchor)
        return Decision(None, next_run)
    if catch_up == "all":
        if running:
            return Decision(None, next_run)  # the backlog waits for the running one
        backlog = schedule.count_between(next_run, latest, anchor, MAX_CATCH_UP + 1)
        if backlog < MAX_CATCH_UP:
            return Decision(next_run, schedule.next_after(next_run, anchor))
        # Keep the newest MAX_CATCH_UP ticks (latest included); skip everything before them.
        first = latest
        for _ in range(MAX_CATCH_UP - 1):
            first = _previous(schedule, first, anchor)
        dropped = schedule.count_between(next_run, first, anchor, _COUNT_CAP)
        skipped = [(next_run, dropped, f"more than {MAX_CATCH_UP} missed ticks")]
        return Decision(first, schedule.next_after(first, anchor), skipped)
    decision = Decision(None, schedule.next_after(latest, anchor))
    missed = schedule.count_between(next_run, latest, anchor, _COUNT_CAP)
    if running:
        if missed:
            decision.skipped.append((next_run, missed, "missed"))
        decision.skipped.append((latest, 1, "the previous run was still running"))
    elif catch_up == "skip" and now - latest > ON_TIME_MS:
        decision.skipped.append((next_run, missed + 1, "missed"))
    else:
        if missed:
            decision.skipped.append((next_run, missed, "missed"))
        decision.fire = latest
    return decision


def _previous(schedule: Schedule, tick: float, anchor: float) -> float:
    previous = schedule.latest_at_or_before(tick - 1000.0, anchor)
    return tick if previous is None else previous


async def _previous_running(system: DocumentWriter, cron: CronJobRow) -> bool:
    last = cron.get("lastJob")
    if not isinstance(last, str) or system.normalize_id(SCHEDULED_TABLE, last) is None:
        return False
    job = await system.get(last)
    return job is not None and job["state"]["kind"] in _RUNNING


async def _decided(system: DocumentWriter, name: str, tick: float) -> bool:
    rows = await (
        system.query(RUNS_TABLE)
        .with_index(BY_CRON_TICK, lambda q: q.eq("cron", name).eq("tick", tick))
        .take(1)
    )
    return bool(rows)


@dataclass
class Fired:
    """What one firing transaction did."""

    count: int = 0
    #: Job rows written already ``inProgress`` for the caller's executor to run.
    adopted: list[dict[str, Any]] = field(default_factory=list)


async def fire_crons(
    runtime: SchedulingKernel, cron_ids: list[str], executor: Executor | None = None
) -> Fired:
    """Decide the due ticks of the given crons in one transaction.

    With an ``executor`` (of this process) that has free slots, the fired functions are
    written already claimed by it — it runs them as soon as this commits, without a claim
    transaction of its own; the others wait as ``pending`` for any executor."""

    async def body(writer: DocumentWriter) -> Fired:
        system = writer.system_writer()
        scheduler = MutationScheduler(runtime, writer)
        now = runtime.clock.now_ms()
        fired = Fired()
        slots = executor.free_slots() if executor is not None else 0
        for cron_id in cron_ids:
            document = await system.get(cron_id)
            if document is None or float(document["nextRun"]) > now:
                continue  # removed, or decided by another process meanwhile
            cron = cron_row(document)
            lease = executor.jobs.lease(now) if executor and len(fired.adopted) < slots else None
            job = await _fire_one(system, scheduler, cron, now, lease)
            if job is not None:
                fired.count += 1
                if lease is not None:
                    fired.adopted.append(job)
        return fired

    return await runtime.transact(body, label="firing crons")


async def _fire_one(
    system: DocumentWriter,
    scheduler: MutationScheduler,
    cron: CronJobRow,
    now: float,
    lease: Lease | None,
) -> dict[str, Any] | None:
    """Decide one cron's due ticks; the job row of the tick that fired, if one did."""
    name = cron["name"]
    schedule = schedule_from_json(cron["schedule"])
    anchor = float(cron.get("anchor", 0.0))
    running = await _previous_running(system, cron)
    decision = decide(schedule, anchor, float(cron["nextRun"]), now, cron["catchUp"], running)
    kept = int(cron.get("kept", 0))
    for tick, count, reason in decision.skipped:
        if await _decided(system, name, tick):
            continue
        skipped = {"tick": tick, "firedTime": now, "state": "skipped", "reason": reason}
        _, kept = await record_run(system, name, kept, {**skipped, "missed": count})
        log.info("cron %r: skipped %d tick(s) from %.0f: %s", name, count, tick, reason)
    patch: dict[str, Any] = {"nextRun": decision.next_run}
    job: dict[str, Any] | None = None
    if decision.fire is not None and not await _decided(system, name, decision.fire):
        run: dict[str, Any] = {"tick": decision.fire, "firedTime": now, "state": "scheduled"}
        if lease is not None:
            run.update(state="running", startedTime=now)
        run_id, kept = await record_run(system, name, kept, run)
        args, origin = dict(cron["args"]), {"cron": {"name": name, "run": run_id}}
        job_id = await scheduler.insert(
            cron["function"], args, decision.fire, extra=origin, lease=lease
        )
        job = {"_id": job_id, "name": cron["function"], "args": [args], "lease": lease}
        patch["lastJob"] = job_id
    patch["kept"] = await trim_history(system, name, kept)
    await system.patch(cron["_id"], patch)
    return job
