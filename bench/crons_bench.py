"""Crons: firing lateness, start-up reconciliation and idle CPU, beside same-run baselines.

(a) ``--crons`` (100) crons each firing every second for ``--seconds`` (60), run by a real
``mainspring serve`` process on SQLite and PostgreSQL. A firing's lateness is read from its
``_cron_runs`` row: ``firedTime - tick`` (the firing transaction began), ``startedTime -
tick`` (the executor claimed the function: *the* lateness, target p99 < 50 ms) and
``completedTime - tick``. The history keeps 50 runs per cron, so the rows are read every
``READ_EVERY_S`` seconds while the server runs and merged by id: every run is seen after it
finished. Baselines: 100 plain asyncio tasks sleeping until every whole second, and
APScheduler's ``AsyncIOScheduler`` with 100 one-second interval jobs (if installed), for the
same time — the wake-up floor this machine gives.

(b) Reconciling ``--reconcile-crons`` (1,000) crons into a fresh database, then again with
nothing changed (``CronRunner.reconcile()``, in this process). Baselines: inserting 1,000
rows of the same JSON with plain SQL in one transaction (``executemany``: psycopg on the same
PostgreSQL, ``sqlite3`` on the same disk) and reading them back.

(c) Idle CPU: a ``mainspring serve`` process with 1,000 daily crons, none due for hours,
sampled over ``--idle-seconds`` (30) from ``/proc`` (the server process and, on PostgreSQL,
its database backends); baseline a bare uvicorn + Starlette process sampled the same way.

    python bench/crons_bench.py [--seconds 60] [--pg postgresql://postgres@127.0.0.1:5432/test]
    python bench/crons_bench.py --quick         # a smoke check: 10 s lateness, 10 s idle
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from rich import box
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
APP_DIR = HERE / "crons_app"
sys.path.insert(0, str(HERE))

from _fresh_schemas import FreshSchemas  # noqa: E402
from _processes import cpu_seconds, free_port, stop, wait_listening  # noqa: E402

from mainspring import CronJobs, internal  # noqa: E402
from mainspring.clock import SystemClock  # noqa: E402
from mainspring.crons.runner import CronRunner  # noqa: E402
from mainspring.db import open_database  # noqa: E402
from mainspring.registry import load_app  # noqa: E402
from mainspring.runtime import Runtime  # noqa: E402

#: How often the lateness run reads ``_cron_runs`` (history keeps 50 one-second runs).
READ_EVERY_S = 10.0
#: Ticks after the server is up that are not counted (start-up, first claims).
WARMUP_TICKS = 3
TARGET_P99_MS = 50.0
TARGET_IDLE_PCT = 1.0
console = Console(width=200)


def log(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}", highlight=False)


def quantiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max (ms); NaN when there is nothing to measure."""
    if len(values) < 2:
        return (float("nan"),) * 3
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98], max(values)


# -- processes and their CPU time -------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def pg_backends(pg: str, application: str) -> list[int]:
    """The PostgreSQL backend processes serving connections named ``application``."""
    with psycopg.connect(pg, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application,)
        ).fetchall()
    return [int(row[0]) for row in rows]


@contextmanager
def server(argv: list[str], port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A server process listening on ``port``; SIGTERM'd (then killed) on the way out."""
    logged = tempfile.NamedTemporaryFile(prefix="bench-crons-server-", suffix=".log")  # noqa: SIM115
    proc = subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=logged
    )
    try:
        wait_listening(proc, port, str(argv), timeout=60, log=Path(logged.name))
        yield proc
    finally:
        stop(proc)
        problems = [
            line for line in Path(logged.name).read_text().splitlines() if "WARNING" in line
        ]
        if problems:
            log(f"server warnings ({len(problems)}): " + " | ".join(problems[:3]))
        logged.close()


def serve_argv(url: str, port: int) -> list[str]:
    mainspring = str(Path(sys.executable).with_name("mainspring"))
    return [
        mainspring, "serve", "--app", str(APP_DIR), "--db", url, "--port", str(port),
        "--log-level", "warning",
        # 100 crons firing in the same instant: room to start them all at once.
        "--scheduler-concurrency", "128",
    ]  # fmt: skip


async def reader(url: str) -> Runtime:
    runtime = Runtime(load_app(APP_DIR / "backend"), open_database(url), SystemClock())
    await runtime.start()
    return runtime


async def cron_count(runtime: Runtime) -> int:
    async with runtime.read_snapshot() as db:
        return len(await db.system.query("_cron_jobs").collect())


# -- (a) firing lateness ----------------------------------------------------------------------


@dataclass
class Lateness:
    """Per firing, ms after its tick; plus what did not fire and the server's CPU."""

    fired: list[float] = field(default_factory=list)
    started: list[float] = field(default_factory=list)
    completed: list[float] = field(default_factory=list)
    expected: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    unfinished: int = 0
    cpu_pct: float = 0.0


async def asyncio_timers(count: int, seconds: float) -> list[float]:
    """``count`` tasks sleeping until every whole second for ``seconds``: wake-up lateness."""
    late: list[float] = []
    first = float(int(time.time()) + 2)

    async def timer() -> None:
        for k in range(int(seconds)):
            tick = first + k
            await asyncio.sleep(max(0.0, tick - time.time()))
            late.append((time.time() - tick) * 1000)

    await asyncio.gather(*(timer() for _ in range(count)))
    return late


async def apscheduler_timers(count: int, seconds: float) -> list[float] | None:
    """APScheduler (3.x, in memory) running ``count`` one-second interval jobs."""
    try:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
    except ImportError:
        return None
    late: list[float] = []
    first = float(int(time.time()) + 2)

    async def job() -> None:
        now = time.time()
        tick = first + max(0, round(now - first - 0.5))  # the grid second at or before now
        late.append((now - tick) * 1000)

    from datetime import UTC, datetime

    scheduler = AsyncIOScheduler()
    start = datetime.fromtimestamp(first, UTC)
    for i in range(count):
        scheduler.add_job(job, "interval", seconds=1, start_date=start, id=str(i))
    scheduler.start()
    await asyncio.sleep(first - time.time() + seconds - 0.5)
    scheduler.shutdown(wait=False)
    return late


async def cron_lateness(url: str, count: int, seconds: float) -> Lateness:
    """Run ``count`` every-second crons in a ``mainspring serve`` process for ``seconds``."""
    port = free_port()
    env = {"BENCH_CRONS": str(count), "BENCH_CRON_EVERY": "second"}
    result = Lateness()
    with server(serve_argv(url, port), port, env) as proc:
        runtime = await reader(url)
        try:
            while await cron_count(runtime) < count:  # noqa: ASYNC110 (another process)
                await asyncio.sleep(0.1)
            async with runtime.read_snapshot() as db:
                jobs = await db.system.query("_cron_jobs").collect()
            first = min(float(j["nextRun"]) for j in jobs if j["name"].startswith("bench "))
            begin = first + WARMUP_TICKS * 1000
            end = begin + seconds * 1000  # ticks in [begin, end)
            runs: dict[str, dict[str, Any]] = {}

            async def read() -> None:
                async with runtime.read_snapshot() as db:
                    for row in await db.system.query("_cron_runs").collect():
                        runs[row["_id"]] = row

            # Read half-way between ticks, when the server is quiet.
            await asyncio.sleep(max(0.0, (begin - 500) / 1000 - time.time()))
            cpu_before = sum(cpu_seconds(p) for p in descendants(proc.pid))
            wall_before = time.monotonic()
            next_read = begin + 500 + READ_EVERY_S * 1000
            while next_read < end + 2500:
                await asyncio.sleep(max(0.0, next_read / 1000 - time.time()))
                await read()
                next_read += READ_EVERY_S * 1000
            await asyncio.sleep(max(0.0, end / 1000 - time.time()))
            cpu = sum(cpu_seconds(p) for p in descendants(proc.pid)) - cpu_before
            result.cpu_pct = 100 * cpu / (time.monotonic() - wall_before)
            await asyncio.sleep(2.5)  # the last ticks' functions finish
            await read()
        finally:
            await runtime.stop()
    result.expected = count * int(seconds)
    for row in runs.values():
        if not (begin <= row["tick"] < end) or not row["cron"].startswith("bench "):
            continue
        tick = row["tick"]
        if row["state"] == "skipped":
            reason = "missed" if row.get("reason") == "missed" else "still running"
            result.skipped[reason] = result.skipped.get(reason, 0) + int(row.get("missed", 1))
            continue
        result.fired.append(row["firedTime"] - tick)
        if "startedTime" in row:
            result.started.append(row["startedTime"] - tick)
        if "completedTime" in row:
            result.completed.append(row["completedTime"] - tick)
        else:
            result.unfinished += 1
    return result


# -- (b) reconciliation -----------------------------------------------------------------------


def declared(count: int) -> CronJobs:
    crons = CronJobs()
    for i in range(count):
        crons.interval(f"bench {i:04d}", {"seconds": 1}, internal.bench.record, {"i": i})
    return crons


async def reconcile_times(url: str, count: int) -> tuple[float, float]:
    """ms to reconcile ``count`` new crons, then the same ``count`` unchanged."""
    runtime = await reader(url)
    try:
        runner = CronRunner(runtime, declared(count))
        began = time.perf_counter()
        added = await runner.reconcile()
        fresh = (time.perf_counter() - began) * 1000
        assert len(added.added) == count, added
        began = time.perf_counter()
        again = await runner.reconcile()
        unchanged = (time.perf_counter() - began) * 1000
        assert again.unchanged == count, again
    finally:
        await runtime.stop()
    return fresh, unchanged


def plain_rows(count: int) -> list[tuple[str, str]]:
    now = time.time() * 1000
    return [
        (
            f"bench {i:04d}",
            json.dumps(
                {
                    "function": "bench:record", "args": {"i": i},
                    "schedule": {"kind": "interval", "everyMs": 1000.0}, "catchUp": "skip",
                    "anchor": now, "nextRun": now + 1000, "kept": 0,
                }
            ),
        )
        for i in range(count)
    ]  # fmt: skip


def plain_sql_pg(pg: str, count: int) -> tuple[float, float]:
    """ms to insert ``count`` rows in one transaction (executemany), then to read them."""
    schema = f"bench_crons_sql_{uuid.uuid4().hex[:8]}"
    rows = plain_rows(count)
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(
                f"CREATE TABLE {schema}.jobs (id bigserial PRIMARY KEY, name text UNIQUE, "
                "doc jsonb NOT NULL)"
            )
            began = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {schema}.jobs (name, doc) VALUES (%s, %s)", rows)
            insert = (time.perf_counter() - began) * 1000
            began = time.perf_counter()
            with conn.transaction():
                read = conn.execute(f"SELECT name, doc FROM {schema}.jobs").fetchall()
            select = (time.perf_counter() - began) * 1000
            assert len(read) == count
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return insert, select


def plain_sql_sqlite(path: str, count: int) -> tuple[float, float]:
    """The same with ``sqlite3`` (WAL, ``synchronous=FULL``, as Mainspring opens it)."""
    rows = plain_rows(count)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(
            "CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT UNIQUE, doc TEXT NOT NULL)"
        )
        began = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO jobs (name, doc) VALUES (?, ?)", rows)
        conn.execute("COMMIT")
        insert = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        conn.execute("BEGIN")
        read = [(name, json.loads(doc)) for name, doc in conn.execute("SELECT name, doc FROM jobs")]
        conn.execute("COMMIT")
        select = (time.perf_counter() - began) * 1000
        assert len(read) == count
    finally:
        conn.close()
    return insert, select


# -- (c) idle CPU -----------------------------------------------------------------------------


def idle_cpu(
    argv: list[str], port: int, env: dict[str, str], seconds: float, ready: Any = None
) -> tuple[float, float, int]:
    """% of one core used by the server and by its PostgreSQL backends over ``seconds``;
    how many backends."""
    with server(argv, port, env) as proc:
        backends: list[int] = []
        if ready is not None:
            backends = ready()
        time.sleep(3.0)  # start-up settles
        pids = descendants(proc.pid)
        before = sum(cpu_seconds(p) for p in pids), sum(cpu_seconds(p) for p in backends)
        began = time.monotonic()
        time.sleep(seconds)
        after = sum(cpu_seconds(p) for p in pids), sum(cpu_seconds(p) for p in backends)
        wall = time.monotonic() - began
    return 100 * (after[0] - before[0]) / wall, 100 * (after[1] - before[1]) / wall, len(backends)


def mainspring_idle(
    dbs: FreshSchemas, backend: str, count: int, seconds: float
) -> tuple[float, float, int]:
    application = f"bench_crons_idle_{uuid.uuid4().hex[:6]}"
    url = dbs.fresh(backend, application)
    env = {"BENCH_CRONS": str(count), "BENCH_CRON_EVERY": "day"}

    def ready() -> list[int]:
        async def wait() -> None:
            runtime = await reader(url.replace(application, application + "_reader"))
            try:
                while await cron_count(runtime) < count:  # noqa: ASYNC110 (another process)
                    await asyncio.sleep(0.2)
            finally:
                await runtime.stop()

        asyncio.run(wait())
        return pg_backends(dbs.pg, application) if backend == "postgres" else []

    port = free_port()
    return idle_cpu(serve_argv(url, port), port, env, seconds, ready)


def bare_idle(seconds: float) -> float:
    port = free_port()
    argv = [sys.executable, str(HERE / "_servers.py"), "bare", str(port)]
    return idle_cpu(argv, port, {}, seconds)[0]


# -- the table --------------------------------------------------------------------------------


def ms3(values: tuple[float, float, float]) -> str:
    return f"{values[0]:.1f} / {values[1]:.1f} / {values[2]:.1f} ms"


def mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[red]✗[/]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="lateness run length")
    parser.add_argument("--idle-seconds", type=int, default=30, help="idle CPU sample length")
    parser.add_argument("--crons", type=int, default=100, help="every-second crons")
    parser.add_argument("--reconcile-crons", type=int, default=1000)
    parser.add_argument("--idle-crons", type=int, default=1000)
    parser.add_argument(
        "--pg", "--postgres", dest="pg", default="postgresql://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated")
    parser.add_argument("--quick", action="store_true", help="10 s lateness, 10 s idle")
    opts = parser.parse_args()
    if opts.quick:
        opts.seconds, opts.idle_seconds = 10, 10
    backends = [b for b in opts.backends.split(",") if b]
    dbs = FreshSchemas(opts.pg, "bench_crons")
    load = os.getloadavg()
    log(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cores")
    try:
        log(f"baseline: {opts.crons} asyncio timers for {opts.seconds} s")
        base_asyncio = quantiles(asyncio.run(asyncio_timers(opts.crons, opts.seconds)))
        log(f"baseline: APScheduler, {opts.crons} interval jobs for {opts.seconds} s")
        aps = asyncio.run(apscheduler_timers(opts.crons, opts.seconds))
        base_aps = quantiles(aps) if aps is not None else None
        late: dict[str, Lateness] = {}
        for backend in backends:
            log(f"{backend}: {opts.crons} every-second crons for {opts.seconds} s")
            late[backend] = asyncio.run(cron_lateness(dbs.fresh(backend), opts.crons, opts.seconds))
        log(f"reconciling {opts.reconcile_crons} crons")
        reconciled = {
            b: asyncio.run(reconcile_times(dbs.fresh(b), opts.reconcile_crons)) for b in backends
        }
        plain = {
            b: plain_sql_sqlite(str(dbs.work / "plain.sqlite3"), opts.reconcile_crons)
            if b == "sqlite"
            else plain_sql_pg(opts.pg, opts.reconcile_crons)
            for b in backends
        }
        log(f"idle CPU over {opts.idle_seconds} s: bare Starlette")
        bare = bare_idle(opts.idle_seconds)
        idle: dict[tuple[str, int], tuple[float, float, int]] = {}
        for backend in backends:
            for count in (opts.idle_crons, 0):  # 0: what the server costs without crons
                log(f"idle CPU over {opts.idle_seconds} s: {backend}, {count} daily crons")
                idle[backend, count] = mainspring_idle(dbs, backend, count, opts.idle_seconds)
    finally:
        dbs.drop()
    load_after = os.getloadavg()

    table = Table(
        title=f"Crons: {opts.crons} every-second crons for {opts.seconds} s, "
        f"{opts.reconcile_crons} reconciled, {opts.idle_crons} idle",
        box=box.MARKDOWN,
    )
    for column in ("measurement", "Mainspring", "baseline (same run)", "ratio", "target"):
        table.add_column(column)
    for backend, result in late.items():
        started = quantiles(result.started)
        ok = started[1] < TARGET_P99_MS
        table.add_row(
            f"start lateness p50/p99/max, {backend}",
            ms3(started),
            f"asyncio timers {ms3(base_asyncio)}",
            f"{started[1] / base_asyncio[1]:.1f}x (p99)",
            f"p99 < {TARGET_P99_MS:.0f} ms {mark(ok)}",
        )
        if base_aps is not None:
            table.add_row(
                "", "", f"APScheduler {ms3(base_aps)}", f"{started[1] / base_aps[1]:.1f}x (p99)", ""
            )
        table.add_row(f"  fired (decided), {backend}", ms3(quantiles(result.fired)), "", "", "")
        table.add_row(f"  completed, {backend}", ms3(quantiles(result.completed)), "", "", "")
        lost = result.expected - len(result.fired)
        skipped = sum(result.skipped.values())
        table.add_row(
            f"  ticks fired / expected, {backend}",
            f"{len(result.fired):,} / {result.expected:,} ("
            f"{result.skipped.get('missed', 0):,} skipped missed, "
            f"{result.skipped.get('still running', 0):,} skipped overlap, "
            f"{lost - skipped:,} lost, {result.unfinished:,} unfinished)",
            "",
            "",
            mark(lost == 0 and result.unfinished == 0),
        )
        table.add_row(f"  server CPU while firing, {backend}", f"{result.cpu_pct:.0f}% of a core")
    for backend, (fresh, unchanged) in reconciled.items():
        insert, select = plain[backend]
        tool = "psycopg" if backend == "postgres" else "sqlite3"
        table.add_row(
            f"reconcile {opts.reconcile_crons:,} new, {backend}",
            f"{fresh:,.0f} ms",
            f"{tool} executemany insert {insert:,.0f} ms",
            f"{fresh / insert:.1f}x",
            "",
        )
        table.add_row(
            f"reconcile {opts.reconcile_crons:,} unchanged, {backend}",
            f"{unchanged:,.0f} ms",
            f"{tool} select {select:,.0f} ms",
            f"{unchanged / select:.1f}x",
            "",
        )
    for (backend, count), (server_pct, pg_pct, connections) in idle.items():
        total = server_pct + pg_pct
        extra = f" + {pg_pct:.2f}% ({connections} PG backends)" if backend == "postgres" else ""
        ratio = f"{total / bare:.1f}x" if bare > 0.005 else "—"
        table.add_row(
            f"idle CPU, {count:,} crons, {backend}",
            f"{server_pct:.2f}%{extra}",
            f"bare Starlette {bare:.2f}%",
            ratio,
            f"< {TARGET_IDLE_PCT:.0f}% {mark(total < TARGET_IDLE_PCT)}",
        )
    console.print()
    console.print(table)
    console.print(
        f"load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after "
        f"{load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; {os.cpu_count()} cores",
        highlight=False,
    )


if __name__ == "__main__":
    main()
