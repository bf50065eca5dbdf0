"""The kernel: the narrow interface Mainspring's features run on.

Features (the lease engine and its stores, storage, crons, …) are handed a :class:`Kernel`,
not the runtime that implements it: the clock, transactions (:meth:`Kernel.transact` runs a
body as a mutation runs, retried on conflicts and published after the commit), read
snapshots, calls of functions by reference, and "run a mutation body" for work that commits
its own bookkeeping in the function's transaction. They never reach each other's insides
through it. :class:`~mainspring.runtime.Runtime` is the one implementation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .feed import CommitFeed, CommitListener

if TYPE_CHECKING:
    from .auth import Auth
    from .clock import Clock
    from .db.base import Database
    from .db.store import DocumentReader, DocumentWriter
    from .functions import FunctionDefinition, Kind

__all__ = [
    "CallResult",
    "CommitListener",
    "Kernel",
    "MutationBody",
    "MutationWrapper",
    "PreCommitHook",
    "Service",
]

_T = TypeVar("_T")
#: A function's mutation (or Mainspring's own writes) run in a given transaction.
MutationBody = Callable[["DocumentWriter"], Awaitable[Any]]
#: Wraps a top-level mutation's body inside its transaction (see ``Runtime.run``).
MutationWrapper = Callable[[MutationBody], MutationBody]
#: Awaited inside a write transaction just before it commits (only when it wrote something).
PreCommitHook = Callable[["DocumentWriter"], Awaitable[None]]


@dataclass
class CallResult:
    """What a top-level call produced."""

    value: Any
    log_lines: list[str] = field(default_factory=list)


class Service(Protocol):
    """Background work a deployment starts after its database and stops before closing it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Kernel(Protocol):
    """What a feature may use of the deployment it runs in."""

    #: The deployment's clock: read time only through it (tests move a virtual one).
    clock: Clock
    #: The database (for features that need its dialect or a transaction of their own).
    database: Database
    #: Every commit, in this process and (by notification) from the others.
    feed: CommitFeed

    async def transact(
        self, body: Callable[[DocumentWriter], Awaitable[_T]], *, label: str, claim: bool = False
    ) -> _T:
        """Run ``body(writer)`` in a write transaction, as a mutation runs: retried on
        conflicts (ConflictError naming ``label`` when exhausted), published after the
        commit. ``claim`` opens the backend's claim transaction (see
        :mod:`mainspring.db.base`)."""
        ...

    def read_snapshot(self) -> AbstractAsyncContextManager[DocumentReader]:
        """A read-only view of the database at one snapshot."""
        ...

    def resolve(self, function: Any) -> FunctionDefinition:
        """The registered function a definition, reference or path names (internal ones
        too); FunctionNotFoundError if there is none."""
        ...

    async def call(
        self, function: Any, args: Any, *, auth: Auth | None = None, kind: Kind | None = None
    ) -> Any:
        """Run a function as a server-side call (validated, logs captured)."""
        ...

    def mutation_body(self, definition: FunctionDefinition, args: Any, auth: Auth) -> MutationBody:
        """``definition`` (a mutation) as a body to run in a given transaction."""
        ...

    def validate_args(self, definition: FunctionDefinition, args: Any) -> dict[str, Any]:
        """``args`` checked against ``definition``'s parameters."""
        ...

    async def refresh_env(self) -> None:
        """Re-read the deployment's environment variables if another process may have
        changed them (before running user code)."""
        ...
