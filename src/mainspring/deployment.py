"""Assembling one deployment in this process: the one place that does it.

``mainspring serve`` and ``dev`` (each server process), ``mainspring worker``, the CLI's
in-process commands and the test harness all build their deployment here, so each gets the
same runtime (database, blob store, features) and, where it runs background work, the same
services: the scheduled functions' executor, the work pools' dispatcher and the cron runner
(fired functions go straight to this process's executor while it has free slots).

A test harness (:class:`~mainspring.testing.TestApp`) asks for no background work: it drives
the same engines itself, on a virtual clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .crons.runner import SYSTEM_CRONS, CronRunner
from .lease.options import SCHEDULED_FUNCTIONS, WORK_ITEMS
from .registry import LoadedApp, load_app
from .runtime import Runtime
from .scheduling.executor import Executor
from .workpool.dispatcher import Dispatcher

if TYPE_CHECKING:
    from .clock import Clock
    from .config import Settings
    from .db.base import Database
    from .storage.base import BlobStore

__all__ = ["Deployment"]


@dataclass
class Deployment:
    """One deployment's runtime in this process, and its background services if it runs
    them (started and stopped with the runtime)."""

    runtime: Runtime
    executor: Executor | None = None
    dispatcher: Dispatcher | None = None
    crons: CronRunner | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, app: LoadedApp | None = None, *, background: bool
    ) -> Deployment:
        """The deployment ``settings`` describe, with the app loaded from its functions
        folder (unless given ``app``, loaded from it); ``background`` adds the executor,
        the dispatcher and the cron runner, configured by ``settings``."""
        runtime = Runtime(
            app or load_app(settings.check_functions_dir()),
            settings.open_database(),
            admin_key=settings.admin_key,
            blob_store=settings.open_blob_store(),
            site_url=settings.public_url,
            max_upload_bytes=settings.max_upload_size,
        )
        if not background:
            return cls(runtime)
        executor = Executor(
            runtime,
            replace(
                SCHEDULED_FUNCTIONS,
                concurrency=settings.scheduler_concurrency,
                lease_ms=settings.scheduler_lease,
                poll_ms=settings.scheduler_poll,
                retention_ms=settings.scheduled_retention,
            ),
        )
        dispatcher = Dispatcher(
            runtime,
            replace(
                WORK_ITEMS,
                concurrency=settings.workpool_concurrency,
                lease_ms=settings.scheduler_lease,
                poll_ms=settings.scheduler_poll,
                retention_ms=settings.workpool_retention,
            ),
        )
        # The app's crons and Mainspring's own; what fires goes straight to this process's
        # executor while it has free slots.
        crons = CronRunner(runtime, [*(runtime.app.crons or ()), *SYSTEM_CRONS], executor=executor)
        for service in (executor, dispatcher, crons):
            runtime.add_service(service)
        return cls(runtime, executor, dispatcher, crons)

    @classmethod
    def for_harness(
        cls, app: LoadedApp, database: Database, clock: Clock, blob_store: BlobStore | None
    ) -> Deployment:
        """A deployment for a test harness: no background services (the harness drives the
        engines on its clock); ``blob_store`` None keeps files in a temporary folder."""
        return cls(Runtime(app, database, clock, blob_store=blob_store))

    async def start(self) -> None:
        """Open the database, prepare the tables, start the background services."""
        await self.runtime.start()

    async def stop(self) -> None:
        """Stop the background services, then close the database and the blob store."""
        await self.runtime.stop()
