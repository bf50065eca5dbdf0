"""Work pools: no-op actions per second through one pool on PostgreSQL, 2 worker processes,
beside Procrastinate, PgQueuer (PostgreSQL), Celery and RQ (Redis broker) measured in the
same run, each with 2 worker processes. Jobs are enqueued first; the figure is the drain.
Run by hand, not in tests::

    pip install procrastinate pgqueuer celery rq      # the peers, for the benchmark only
    redis-server --daemonize yes                       # Redis on 127.0.0.1:6379
    python bench/workpool_throughput.py [--jobs 20000] [--pg postgresql://postgres@127.0.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
APP = HERE / "workpool_app" / "backend"
sys.path.insert(0, str(HERE))

from _pool_peers import celery_rate, pgqueuer_rate, procrastinate_rate, rq_rate  # noqa: E402
from scheduler_throughput import FreshDatabases  # noqa: E402

from mainspring.clock import SystemClock  # noqa: E402
from mainspring.db import open_database  # noqa: E402
from mainspring.lease.options import WORK_ITEMS  # noqa: E402
from mainspring.registry import load_app  # noqa: E402
from mainspring.runtime import Runtime  # noqa: E402
from mainspring.workpool.dispatcher import Dispatcher  # noqa: E402

CONCURRENCY = 64  # per process; the pool's own cap is 128 across processes


def _worker(url: str, ready: Any, go: Any, stop: Any) -> None:
    async def work() -> None:
        runtime = Runtime(load_app(APP), open_database(url), SystemClock())
        dispatcher = Dispatcher(runtime, replace(WORK_ITEMS, concurrency=CONCURRENCY))
        await runtime.start()
        ready.set()
        while not go.is_set():  # noqa: ASYNC110 (another process's event)
            await asyncio.sleep(0.002)
        await dispatcher.start()
        while not stop.is_set():  # noqa: ASYNC110 (another process's event)
            await asyncio.sleep(0.05)
        await dispatcher.stop()
        await runtime.stop()

    asyncio.run(work())


async def _left(runtime: Runtime) -> int:
    pools = await runtime.call("_system/workpool:pools", {})
    return sum(int(p["pending"]) + int(p["running"]) for p in pools)


async def mainspring_rate(url: str, n: int, processes: int = 2, kind: str = "action") -> float:
    runtime = Runtime(load_app(APP), open_database(url), SystemClock())
    await runtime.start()
    for start in range(0, n, 1000):
        count = min(n, start + 1000) - start
        await runtime.call("bench:enqueue", {"start": start, "count": count, "kind": kind})
    context = multiprocessing.get_context("spawn")
    go, stop = context.Event(), context.Event()
    ready = [context.Event() for _ in range(processes)]
    procs = [context.Process(target=_worker, args=(url, r, go, stop)) for r in ready]
    for proc in procs:
        proc.start()
    for event in ready:
        event.wait(60)
    began = time.perf_counter()
    go.set()
    while await _left(runtime):  # noqa: ASYNC110 (polling the database)
        await asyncio.sleep(0.01)
    rate = n / (time.perf_counter() - began)
    stop.set()
    for proc in procs:
        proc.join(30)
    await runtime.stop()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rq-jobs", type=int, default=2000, help="RQ forks per job: fewer")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--only", help="comma-separated subset: mainspring,procrastinate,…")
    opts = parser.parse_args()
    fresh = FreshDatabases(opts.pg)
    everything = "mainspring,mainspring-mutations,procrastinate,pgqueuer,celery,rq"
    wanted = set((opts.only or everything).split(","))
    rates: dict[str, float] = {}

    def measure(name: str, label: str, fn: Callable[[], float]) -> None:
        if name in wanted:
            rates[name] = fn()
            print(f"  {label:<52} {rates[name]:>9,.0f} jobs/s", flush=True)

    try:
        print(f"{opts.jobs} no-op jobs per run, 2 worker processes each", flush=True)
        n = opts.jobs
        measure("mainspring", "Mainspring work pool (PG, cap 128, 64/process)",
                lambda: asyncio.run(mainspring_rate(fresh.postgres(), n)))  # fmt: skip
        measure(
            "mainspring-mutations",
            "Mainspring work pool, no-op mutations (same setup)",
            lambda: asyncio.run(mainspring_rate(fresh.postgres(), n, kind="mutation")),
        )
        measure("procrastinate", "Procrastinate (PG, concurrency 32/process)",
                lambda: procrastinate_rate(fresh.postgres(), n, 32))  # fmt: skip
        measure("pgqueuer", "PgQueuer (PG, batch 10, 32 tasks/process)",
                lambda: pgqueuer_rate(fresh.postgres(), n, 32))  # fmt: skip
        measure("celery", "Celery (Redis broker, prefork -c 2)", lambda: celery_rate(n))
        measure("rq", f"RQ (Redis, 2 burst workers, {opts.rq_jobs} jobs)",
                lambda: rq_rate(opts.rq_jobs))  # fmt: skip
        if "mainspring" in rates:
            print("\nRatios (same run):")
            targets = {"procrastinate": ">= 2", "celery": ">= 1"}
            for peer in ("procrastinate", "pgqueuer", "celery", "rq"):
                if peer in rates:
                    ratio = rates["mainspring"] / rates[peer]
                    target = f"target {targets[peer]}" if peer in targets else ""
                    print(f"  Mainspring / {peer:<14} {ratio:6.2f}  {target}")
    finally:
        fresh.drop()


if __name__ == "__main__":
    main()
