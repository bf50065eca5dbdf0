"""``mainspring worker``: run scheduled functions and fire crons, with no HTTP server.

Run as many as you like against one PostgreSQL database: they share the work (claims use
``FOR UPDATE SKIP LOCKED``), wake each other through ``LISTEN/NOTIFY``, and settle the work of
a worker that died once its lease expires. ``serve`` runs the same executor by default
(``--scheduler off`` leaves it to workers). SIGTERM or Ctrl-C stops claiming and gives running
functions the grace period to finish.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import click

from ..config import Settings
from ..deployment import Deployment
from ..server.asgi import configure_logging
from .options import COMMON, err, resolve_settings, setting_options

__all__ = ["SCHEDULER_SETTINGS", "worker"]

#: The settings of the scheduled-function executor (``serve`` takes them too).
SCHEDULER_SETTINGS = (
    "scheduler_concurrency",
    "scheduler_lease",
    "scheduler_poll",
    "scheduled_retention",
    "workpool_concurrency",
    "workpool_retention",
)


async def _work(settings: Settings) -> None:
    deployment = Deployment.from_settings(settings, background=True)
    executor = deployment.executor
    assert executor is not None
    await deployment.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    err.print(f"[bold]Mainspring worker[/] {executor.owner}")
    err.print(f"  Database     {settings.describe_db()}")
    err.print(f"  Concurrency  {settings.scheduler_concurrency}")
    try:
        await stop.wait()
    finally:
        err.print("stopping: waiting for running scheduled functions…")
        await deployment.stop()


@click.command()
@setting_options(*COMMON, "log_level", *SCHEDULER_SETTINGS)
def worker(**params: Any) -> None:
    """Run scheduled functions (no HTTP server) until SIGTERM or Ctrl-C."""
    settings = resolve_settings(params)
    configure_logging(settings.log_level)
    asyncio.run(_work(settings))
