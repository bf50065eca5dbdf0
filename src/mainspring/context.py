"""The ``ctx`` each kind of function receives."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from .auth import Auth
from .db.store import DocumentReader, DocumentWriter
from .scheduling.scheduler import ActionScheduler, MutationScheduler
from .storage.context import StorageContext

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["ActionCtx", "MutationCtx", "QueryCtx"]


class _Clocked:
    runtime: Runtime

    def now_ms(self) -> float:
        """Now, in ms since the epoch, by the deployment's clock (virtual in the test
        harness, so code that compares times with it is testable) — use it, not
        ``time.time()``, for ``Date.now()``."""
        return self.runtime.clock.now_ms()


class QueryCtx(_Clocked):
    """``ctx`` of a query: ``db`` (read-only snapshot), ``auth``, ``env`` and ``storage``."""

    def __init__(self, runtime: Runtime, db: DocumentReader, auth: Auth) -> None:
        self.runtime = runtime
        self.db = db
        self.auth = auth
        self.env = runtime.env

    @cached_property
    def storage(self) -> StorageContext:
        """Stored files: ``get_url`` and ``get_metadata``."""
        return StorageContext(self.runtime.storage, "query", self.db)


class MutationCtx(_Clocked):
    """``ctx`` of a mutation: ``db`` (a serializable transaction), ``auth``, ``env``,
    ``storage``."""

    def __init__(self, runtime: Runtime, db: DocumentWriter, auth: Auth) -> None:
        self.runtime = runtime
        self.db = db
        self.auth = auth
        self.env = runtime.env

    @cached_property
    def storage(self) -> StorageContext:
        """Stored files: URLs, metadata, upload URLs, and delete (when the mutation commits)."""
        return StorageContext(self.runtime.storage, "mutation", self.db)

    @cached_property
    def scheduler(self) -> MutationScheduler:
        """``run_after``, ``run_at``, ``cancel``: take effect only if this mutation commits."""
        return MutationScheduler(self.runtime, self.db)


class ActionCtx(_Clocked):
    """``ctx`` of an action: no direct database access; call queries and mutations instead."""

    def __init__(self, runtime: Runtime, auth: Auth) -> None:
        self.runtime = runtime
        self.auth = auth
        self.env = runtime.env

    @cached_property
    def storage(self) -> StorageContext:
        """Stored files: everything, including ``store`` and ``get``."""
        return StorageContext(self.runtime.storage, "action", None)

    @cached_property
    def scheduler(self) -> ActionScheduler:
        """``run_after``, ``run_at``, ``cancel``: each takes effect at once."""
        return ActionScheduler(self.runtime)

    async def run_query(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a query (public or internal) in its own snapshot, as this caller."""
        return await self.runtime.call(function, args or {}, auth=self.auth, kind="query")

    async def run_mutation(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a mutation in its own transaction, as this caller."""
        return await self.runtime.call(function, args or {}, auth=self.auth, kind="mutation")

    async def run_action(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run another action, as this caller."""
        return await self.runtime.call(function, args or {}, auth=self.auth, kind="action")
