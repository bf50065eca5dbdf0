"""Peers running the same no-op jobs, for ``scheduler_throughput.py``: Procrastinate and
PgQueuer on PostgreSQL, Huey on SQLite. Each enqueues ``n`` jobs, then one worker process
with ``concurrency`` drains them; the result is jobs per second of the drain.

Install them for the benchmark only: ``pip install procrastinate pgqueuer huey``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import tempfile
import time
from datetime import timedelta


def procrastinate_rate(url: str, n: int, concurrency: int) -> float:
    """Procrastinate 3: ``batch_defer_async`` then ``run_worker_async(wait=False)``."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="noop")
    async def noop(i: int) -> None:
        pass

    async def run() -> float:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            for start in range(0, n, 1000):
                batch = [{"i": i} for i in range(start, min(n, start + 1000))]
                await noop.batch_defer_async(*batch)
            began = time.perf_counter()
            await app.run_worker_async(
                concurrency=concurrency, wait=False, install_signal_handlers=False
            )
            return n / (time.perf_counter() - began)

    return asyncio.run(run())


def pgqueuer_rate(url: str, n: int, concurrency: int, batch_size: int = 10) -> float:
    """PgQueuer: a batch enqueue, then ``QueueManager.run(mode=drain)``."""
    import psycopg
    from pgqueuer import PsycopgDriver, QueueManager
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    async def run() -> float:
        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        queries = Queries(PsycopgDriver(conn))
        await queries.install()
        for start in range(0, n, 1000):
            count = min(n, start + 1000) - start
            await queries.enqueue(["noop"] * count, [None] * count, [0] * count)
        worker = await psycopg.AsyncConnection.connect(url, autocommit=True)
        manager = QueueManager(Queries(PsycopgDriver(worker)))

        @manager.entrypoint("noop")
        async def noop(job: object) -> None:
            pass

        began = time.perf_counter()
        await manager.run(
            batch_size=batch_size,
            max_concurrent_tasks=max(concurrency, 2 * batch_size),
            mode=QueueExecutionMode.drain,
            dequeue_timeout=timedelta(seconds=1),
        )
        rate = n / (time.perf_counter() - began)
        await conn.close()
        return rate

    return asyncio.run(run())


def _huey(path: str):  # type: ignore[no-untyped-def]
    from huey import SqliteHuey

    huey = SqliteHuey(filename=path, fsync=True)  # fsync: like Mainspring's synchronous=full

    @huey.task()
    def noop(i: int) -> None:
        pass

    return huey, noop


def _huey_consumer(path: str, workers: int) -> None:
    huey, _ = _huey(path)
    consumer = huey.create_consumer(
        workers=workers, worker_type="thread", periodic=False, initial_delay=0.001, max_delay=0.01
    )
    consumer.run()


def huey_rate(n: int, workers: int) -> float:
    """Huey with SQLite storage: enqueue, then a thread consumer drains the queue."""
    folder = tempfile.mkdtemp(prefix="bench-huey-")
    path = os.path.join(folder, "huey.db")
    huey, noop = _huey(path)
    for i in range(n):
        noop(i)
    process = multiprocessing.get_context("spawn").Process(
        target=_huey_consumer, args=(path, workers), daemon=True
    )
    began = time.perf_counter()
    process.start()
    while huey.pending_count() > 0:
        time.sleep(0.02)
    rate = n / (time.perf_counter() - began)
    process.terminate()
    process.join()
    return rate
