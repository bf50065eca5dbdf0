"""The public test harness: run an app in-process against a temporary database.

::

    async with TestApp("backend") as t:
        doc_id = await t.mutation("files:save_file", {...})
        assert await t.query("files:list_with_urls") == [...]
        t.advance_time(60_000)

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
from .db import open_database
from .functions import FunctionDefinition
from .registry import LoadedApp, app_from_functions, load_app
from .runtime import Runtime
from .schema import Schema

__all__ = ["TestApp"]


class TestApp:
    """An app running in-process for tests.

    ``app`` is a functions folder path or a list of function definitions (registered under
    module ``app``); ``database`` is a PostgreSQL URL or None for a temporary SQLite file.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: str | Path | list[FunctionDefinition],
        *,
        schema: Schema | None = None,
        database: str | None = None,
        start_ms: float = 1_700_000_000_000.0,
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
        self.runtime = Runtime(loaded, open_database(database), self.clock)
        self._identity: UserIdentity | None = None

    async def __aenter__(self) -> TestApp:
        await self.runtime.start()
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

    def advance_time(self, ms: float) -> None:
        """Move the virtual clock forward."""
        self.clock.advance(ms)
