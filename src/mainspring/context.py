"""The ``ctx`` each kind of function receives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .auth import Auth
from .db.store import DocumentReader, DocumentWriter

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["ActionCtx", "MutationCtx", "QueryCtx"]


class QueryCtx:
    """``ctx`` of a query: ``db`` (read-only snapshot), ``auth`` and ``env``."""

    def __init__(self, runtime: Runtime, db: DocumentReader, auth: Auth) -> None:
        self.runtime = runtime
        self.db = db
        self.auth = auth
        self.env = runtime.env


class MutationCtx:
    """``ctx`` of a mutation: ``db`` (a serializable transaction), ``auth`` and ``env``."""

    def __init__(self, runtime: Runtime, db: DocumentWriter, auth: Auth) -> None:
        self.runtime = runtime
        self.db = db
        self.auth = auth
        self.env = runtime.env


class ActionCtx:
    """``ctx`` of an action: no direct database access; call queries and mutations instead."""

    def __init__(self, runtime: Runtime, auth: Auth) -> None:
        self.runtime = runtime
        self.auth = auth
        self.env = runtime.env

    async def run_query(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a query (public or internal) in its own snapshot, as this caller."""
        return await self.runtime.call(function, args or {}, auth=self.auth, kind="query")

    async def run_mutation(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a mutation in its own transaction, as this caller."""
        return await self.runtime.call(function, args or {}, auth=self.auth, kind="mutation")

    async def run_action(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run another action, as this caller."""
        return await self.runtime.call(function, args or {}, auth=self.auth, kind="action")
