"""Scheduled functions: throughput and lateness, beside peers measured in the same run.

(a) ``--jobs`` no-op mutations and no-op actions scheduled with ``run_after(0)`` (enqueued
first), drained by 1 and by 2 worker processes, on SQLite and PostgreSQL; (b) lateness
(start - scheduled time) p50/p99 of ``run_at`` jobs under light load (50/s). Beside them:
Procrastinate and PgQueuer on PostgreSQL, Huey on SQLite, and pgbench's one-insert commit
rate. Run by hand, not in tests::

    pip install procrastinate pgqueuer huey     # the peers, for the benchmark only
    python bench/scheduler_throughput.py [--jobs 20000] [--pg postgresql://postgres@127.0.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

HERE = Path(__file__).resolve().parent
APP = HERE / "scheduler_app" / "backend"
sys.path.insert(0, str(HERE))

from _queue_baselines import huey_rate, pgqueuer_rate, procrastinate_rate  # noqa: E402
from http_roundtrip import pgbench  # noqa: E402

from mainspring.clock import SystemClock  # noqa: E402
from mainspring.db import open_database  # noqa: E402
from mainspring.lease.options import LeaseOptions  # noqa: E402
from mainspring.registry import load_app  # noqa: E402
from mainspring.runtime import Runtime  # noqa: E402
from mainspring.scheduling.executor import Executor  # noqa: E402

CONCURRENCY = 32


class FreshDatabases:
    """A new SQLite file or PostgreSQL database per measurement; dropped at the end."""

    def __init__(self, server: str) -> None:
        self.server = server.rstrip("/")
        self.created: list[str] = []

    def sqlite(self) -> str:
        return str(Path(tempfile.mkdtemp(prefix="bench-sched-")) / "db.sqlite3")

    def postgres(self) -> str:
        name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"{self.server}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        self.created.append(name)
        return f"{self.server}/{name}"

    def drop(self) -> None:
        with psycopg.connect(f"{self.server}/postgres", autocommit=True) as conn:
            for name in self.created:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _worker(url: str, ready: Any, go: Any, stop: Any) -> None:
    async def work() -> None:
        runtime = Runtime(load_app(APP), open_database(url), SystemClock())
        executor = Executor(runtime, LeaseOptions(concurrency=CONCURRENCY, poll_ms=1000))
        await runtime.start()
        ready.set()
        while not go.is_set():  # noqa: ASYNC110 (polling another process or the database)
            await asyncio.sleep(0.005)
        await executor.start()
        while not stop.is_set():  # noqa: ASYNC110 (polling another process or the database)
            await asyncio.sleep(0.05)
        await executor.stop()
        await runtime.stop()

    asyncio.run(work())


class Workers:
    """``count`` worker processes that start claiming together when told to."""

    def __init__(self, url: str, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.go, self.stop = context.Event(), context.Event()
        self.ready = [context.Event() for _ in range(count)]
        self.processes = [
            context.Process(target=_worker, args=(url, r, self.go, self.stop)) for r in self.ready
        ]
        for process in self.processes:
            process.start()
        for event in self.ready:
            event.wait(60)

    def close(self) -> None:
        self.stop.set()
        for process in self.processes:
            process.join(30)


async def _unfinished(runtime: Runtime) -> bool:
    async with runtime.read_snapshot() as db:
        for kind in ("pending", "inProgress"):
            query = db.system.query("_scheduled_functions").with_index(
                "by_state", lambda q, k=kind: q.eq("state.kind", k)
            )
            if await query.take(1):
                return True
    return False


async def throughput(url: str, kind: str, processes: int, jobs: int) -> float:
    runtime = Runtime(load_app(APP), open_database(url), SystemClock())
    await runtime.start()
    for start in range(0, jobs, 1000):
        count = min(jobs, start + 1000) - start
        await runtime.call("bench:enqueue", {"kind": kind, "start": start, "count": count})
    workers = Workers(url, processes)
    began = time.perf_counter()
    workers.go.set()
    while await _unfinished(runtime):  # noqa: ASYNC110 (polling another process or the database)
        await asyncio.sleep(0.02)
    rate = jobs / (time.perf_counter() - began)
    workers.close()
    await runtime.stop()
    return rate


async def lateness(url: str, count: int = 300, per_second: float = 50.0) -> tuple[float, float]:
    runtime = Runtime(load_app(APP), open_database(url), SystemClock())
    await runtime.start()
    workers = Workers(url, 1)
    workers.go.set()
    await asyncio.sleep(0.5)
    for _ in range(count):
        await runtime.call("bench:schedule_late", {"when": time.time() * 1000 + 200})
        await asyncio.sleep(1 / per_second)
    await asyncio.sleep(1.5)
    while await _unfinished(runtime):  # noqa: ASYNC110 (polling another process or the database)
        await asyncio.sleep(0.05)
    async with runtime.read_snapshot() as db:
        late = sorted(row["ms"] for row in await db.query("lateness").collect())
    workers.close()
    await runtime.stop()
    cuts = statistics.quantiles(late, n=100)
    return cuts[49], cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--skip-peers", action="store_true")
    opts = parser.parse_args()
    fresh = FreshDatabases(opts.pg)
    rows: list[tuple[str, str, float]] = []

    def measure(label: str, unit: str, fn: Callable[[], float]) -> float:
        value = fn()
        rows.append((label, unit, value))
        print(f"  {label:<52} {value:>10,.1f} {unit}", flush=True)
        return value

    try:
        print(f"{opts.jobs} jobs per run, executor concurrency {CONCURRENCY}", flush=True)
        bench_db = fresh.postgres()
        pg1 = measure("pgbench one-insert, 1 connection", "tps", lambda: pgbench(bench_db, 1, 10))
        pg16 = measure(
            "pgbench one-insert, 16 connections", "tps", lambda: pgbench(bench_db, 16, 10)
        )
        peers: dict[str, float] = {}
        if not opts.skip_peers:
            peers["procrastinate"] = measure(
                "Procrastinate (PG, 1 process)", "jobs/s",
                lambda: procrastinate_rate(fresh.postgres(), opts.jobs, CONCURRENCY),
            )  # fmt: skip
            peers["pgqueuer"] = measure(
                "PgQueuer (PG, 1 process)", "jobs/s",
                lambda: pgqueuer_rate(fresh.postgres(), opts.jobs, CONCURRENCY),
            )  # fmt: skip
            peers["huey"] = measure(
                "Huey (SQLite, 1 process, 4 threads)", "jobs/s", lambda: huey_rate(opts.jobs, 4)
            )
        ours: dict[tuple[str, str, int], float] = {}
        for db in ("sqlite", "postgres"):
            for kind in ("mutation", "action"):
                for processes in (1, 2):
                    url = fresh.sqlite() if db == "sqlite" else fresh.postgres()
                    plural = "es" if processes > 1 else ""
                    label = f"Mainspring {kind}s ({db}, {processes} process{plural})"
                    ours[(db, kind, processes)] = measure(
                        label, "jobs/s", lambda u=url, k=kind, p=processes: asyncio.run(
                            throughput(u, k, p, opts.jobs)
                        ),
                    )  # fmt: skip
        for db in ("sqlite", "postgres"):
            url = fresh.sqlite() if db == "sqlite" else fresh.postgres()
            p50, p99 = asyncio.run(lateness(url))
            rows.append((f"run_at lateness p50 ({db})", "ms", p50))
            rows.append((f"run_at lateness p99 ({db})", "ms", p99))
            print(f"  run_at lateness ({db}): p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
        print("\nRatios (same run; best of 1 and 2 processes):")
        best = {k: max(ours[("postgres", k, p)] for p in (1, 2)) for k in ("mutation", "action")}
        ratios = [
            ("PG mutations / pgbench 1 conn", best["mutation"] / pg1, ">= 0.5"),
            ("PG mutations / pgbench 16 conns", best["mutation"] / pg16, ""),
        ]
        if peers:
            sqlite_best = max(ours[("sqlite", "action", p)] for p in (1, 2))
            ratios += [
                ("PG actions / Procrastinate", best["action"] / peers["procrastinate"], ">= 2"),
                ("PG actions / PgQueuer", best["action"] / peers["pgqueuer"], ">= 1"),
                ("SQLite actions / Huey", sqlite_best / peers["huey"], ""),
            ]
        for label, ratio, target in ratios:
            print(f"  {label:<36} {ratio:6.2f}  {'target ' + target if target else ''}")
    finally:
        fresh.drop()


if __name__ == "__main__":
    main()
