"""The public test harness: run an app in-process against a temporary database.

::

    async with TestApp("backend") as t:
        doc_id = await t.mutation("files:save_file", {...})
        assert await t.query("files:list_with_urls") == [...]
        await t.advance_time(60_000)          # runs what became due on the way

Functions run exactly as in a server (validation, transactions, retries), on a temporary
SQLite file by default or on a fresh PostgreSQL schema, with a :class:`VirtualClock`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from .auth import UserIdentity
from .clock import VirtualClock
from .crons.jobs import CronJobs
from .crons.runner import CronRunner
from .db import open_database
from .deployment import Deployment
from .functions import FunctionDefinition
from .registry import LoadedApp, app_from_functions, load_app
from .scheduling.harness import ScheduledDriver
from .schema import Schema
from .storage.base import BlobStore
from .workpool.harness import WorkpoolDriver

__all__ = ["TestApp"]


class TestApp:
    """An app running in-process for tests.

    ``app`` is a functions folder path or a list of function definitions (registered under
    module ``app``); ``database`` is a PostgreSQL URL or None for a temporary SQLite file;
    ``blob_store`` holds stored files (default: a temporary folder). The app's crons
    (``backend/crons.py``) fire as ``advance_time`` moves the clock past their ticks, unless
    ``crons`` is False — or ``crons`` gives others to use instead. Mainspring's own crons do
    not run in tests.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: str | Path | list[FunctionDefinition],
        *,
        schema: Schema | None = None,
        database: str | None = None,
        start_ms: float = 1_700_000_000_000.0,
        blob_store: BlobStore | None = None,
        crons: bool | CronJobs = True,
    ) -> None:
        if isinstance(app, list):
            loaded = LoadedApp(None, app_from_functions(*app), schema)
        else:
            loaded = load_app(app)
            if schema is not None:
                loaded.schema = schema
        self.clock = VirtualClock(start_ms)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if database is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mainspring-test-")
            database = str(Path(self._tmp.name) / "db.sqlite3")
        # blob_store None: the runtime keeps files in a temporary folder, removed at exit.
        deployment = Deployment.for_harness(loaded, open_database(database), self.clock, blob_store)
        self.runtime = deployment.runtime
        self._identity: UserIdentity | None = None
        #: Scheduled functions run only when a test says so (``advance_time``, ``finish_…``).
        self.scheduled = ScheduledDriver(self.runtime, self.clock)
        #: Work pools' items run in the same rounds, on the virtual clock (retries included).
        self.workpools = WorkpoolDriver(self.runtime)
        self.scheduled.participants.append(self.workpools)
        #: The app's crons, fired by ``advance_time`` (None without crons or ``crons=False``).
        self.crons: CronRunner | None = None
        declared = crons if isinstance(crons, CronJobs) else loaded.crons if crons else None
        if declared is not None and len(declared):
            self.crons = CronRunner(self.runtime, declared)

    async def __aenter__(self) -> TestApp:
        await self.runtime.start()
        if self.crons is not None:
            await self.crons.reconcile()
            self.scheduled.participants.append(self.crons)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.runtime.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def with_identity(
        self, subject: str = "user", issuer: str = "https://test.invalid", **claims: Any
    ) -> TestApp:
        """A view of this app whose calls carry the given identity."""
        view = object.__new__(TestApp)
        view.__dict__.update(self.__dict__)
        view._identity = UserIdentity(subject, issuer, claims)
        return view

    async def query(self, path: Any, args: dict[str, Any] | None = None) -> Any:
        """Call a query (public or internal) by path, reference or definition."""
        return await self._call(path, args, "query")

    async def mutation(self, path: Any, args: dict[str, Any] | None = None) -> Any:
        """Call a mutation."""
        return await self._call(path, args, "mutation")

    async def action(self, path: Any, args: dict[str, Any] | None = None) -> Any:
        """Call an action."""
        return await self._call(path, args, "action")

    async def _call(self, path: Any, args: dict[str, Any] | None, kind: Any) -> Any:
        from .auth import Auth

        return await self.runtime.call(path, args or {}, auth=Auth(self._identity), kind=kind)

    async def set_env(self, name: str, value: str | None) -> None:
        """Set (or with None remove) a deployment environment variable."""
        if value is None:
            await self.runtime.call("_system/env:remove", {"name": name})
        else:
            await self.runtime.call("_system/env:set", {"name": name, "value": value})

    async def advance_time(self, ms: float, *, max_iterations: int = 1000) -> int:
        """Move the virtual clock forward by ``ms``, running the scheduled functions that
        become due on the way, each at its own time; returns how many ran."""
        return await self.scheduled.advance_time(ms, max_iterations)

    async def finish_in_progress_scheduled(self, *, max_iterations: int = 100) -> int:
        """Run the scheduled functions due now (and those they schedule for now)."""
        return await self.scheduled.run_due(max_iterations)

    async def finish_all_scheduled(self, *, max_iterations: int = 100) -> int:
        """Run every scheduled function, moving time forward to each one's time, including
        the ones they schedule; raises EndlessSchedulingError after ``max_iterations``."""
        return await self.scheduled.finish_all(max_iterations)
