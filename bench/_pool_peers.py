"""Peers draining the same no-op jobs with 2 worker processes, for ``workpool_throughput.py``:
Procrastinate and PgQueuer on PostgreSQL, Celery and RQ on Redis (loopback).

Every peer's jobs are enqueued before the clock starts and its workers are started (and have
imported everything) before they may take work, so each figure is the drain rate alone.
Install the peers for the benchmark only: ``pip install procrastinate pgqueuer celery rq``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKERS = 2


def _two_processes(target: Callable[..., None], args: tuple[Any, ...]) -> float:
    """Start 2 processes running ``target(*args, ready, go)``; seconds from go to both done."""
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    ready = [context.Event() for _ in range(WORKERS)]
    processes = [context.Process(target=target, args=(*args, r, go)) for r in ready]
    for process in processes:
        process.start()
    for event in ready:
        event.wait(60)
    began = time.perf_counter()
    go.set()
    for process in processes:
        process.join()
    return time.perf_counter() - began


def _procrastinate_app(url: str) -> Any:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="noop")
    async def noop(i: int) -> None:
        pass

    return app, noop


def _procrastinate_worker(url: str, concurrency: int, ready: Any, go: Any) -> None:
    app, _ = _procrastinate_app(url)

    async def run() -> None:
        async with app.open_async():
            ready.set()
            while not go.is_set():  # noqa: ASYNC110 (another process's event)
                await asyncio.sleep(0.002)
            await app.run_worker_async(
                concurrency=concurrency, wait=False, install_signal_handlers=False
            )

    asyncio.run(run())


def procrastinate_rate(url: str, n: int, concurrency: int) -> float:
    """Procrastinate 3: ``batch_defer_async``, then 2 processes ``run_worker_async(wait=False)``."""
    app, noop = _procrastinate_app(url)

    async def enqueue() -> None:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            for start in range(0, n, 1000):
                await noop.batch_defer_async(
                    *({"i": i} for i in range(start, min(n, start + 1000)))
                )

    asyncio.run(enqueue())
    return n / _two_processes(_procrastinate_worker, (url, concurrency))


def _pgqueuer_worker(url: str, concurrency: int, ready: Any, go: Any) -> None:
    import psycopg
    from pgqueuer import PsycopgDriver, QueueManager
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    async def run() -> None:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        manager = QueueManager(Queries(PsycopgDriver(conn)))

        @manager.entrypoint("noop")
        async def noop(job: object) -> None:
            pass

        ready.set()
        while not go.is_set():  # noqa: ASYNC110 (another process's event)
            await asyncio.sleep(0.002)
        await manager.run(
            batch_size=10,
            max_concurrent_tasks=max(concurrency, 20),
            mode=QueueExecutionMode.drain,
            dequeue_timeout=timedelta(seconds=1),
        )
        await conn.close()

    asyncio.run(run())


def pgqueuer_rate(url: str, n: int, concurrency: int) -> float:
    """PgQueuer: a batch enqueue, then 2 processes ``QueueManager.run(mode=drain)``."""
    import psycopg
    from pgqueuer import PsycopgDriver
    from pgqueuer.queries import Queries

    async def enqueue() -> None:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        queries = Queries(PsycopgDriver(conn))
        await queries.install()
        for start in range(0, n, 1000):
            count = min(n, start + 1000) - start
            await queries.enqueue(["noop"] * count, [None] * count, [0] * count)
        await conn.close()

    asyncio.run(enqueue())
    return n / _two_processes(_pgqueuer_worker, (url, concurrency))


def _redis() -> Any:
    import redis
    from _redis_tasks import REDIS_URL

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    return client


def _wait_done(client: Any, n: int, processes: list[subprocess.Popen[bytes]]) -> float:
    deadline = time.monotonic() + 600
    while int(client.get("bench:done") or 0) < n:
        if time.monotonic() > deadline or all(p.poll() is not None for p in processes):
            break  # workers gave up on some (RQ under load): rate over what did run
        time.sleep(0.05)
    done = int(client.get("bench:done") or 0)
    if done < n:
        print(f"    (only {done} of {n} tasks ran)", flush=True)
    first, last = float(client.get("bench:first")), float(client.get("bench:last"))
    return done / (last - first)


def _spawn(command: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    return subprocess.Popen(
        command, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def celery_rate(n: int) -> float:
    """Celery 5, Redis broker, one worker with 2 prefork processes (results ignored)."""
    from _redis_tasks import celery_noop

    client = _redis()
    for i in range(n):
        celery_noop.delay(i)
    worker = _spawn([
        sys.executable, "-m", "celery", "-A", "_redis_tasks:celery_app", "worker",
        "--concurrency", str(WORKERS), "--pool", "prefork", "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ])  # fmt: skip
    try:
        return _wait_done(client, n, [worker])
    finally:
        worker.terminate()
        worker.wait(30)


def rq_rate(n: int) -> float:
    """RQ 2, 2 ``rq worker --burst`` processes (the default worker: a fork per job)."""
    from _redis_tasks import rq_noop
    from rq import Queue

    client = _redis()
    queue = Queue("bench", connection=client)
    for start in range(0, n, 1000):
        batch = range(start, min(n, start + 1000))
        queue.enqueue_many([Queue.prepare_data(rq_noop, (i,)) for i in batch])
    from _redis_tasks import REDIS_URL

    workers = [
        _spawn([sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", REDIS_URL, "bench"])
        for _ in range(WORKERS)
    ]
    try:
        return _wait_done(client, n, workers)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(30)
