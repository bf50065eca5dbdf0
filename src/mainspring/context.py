"""The ``ctx`` each kind of function receives: Convex's API and nothing more.

A user's function is handed a :class:`QueryCtx`, :class:`MutationCtx` or :class:`ActionCtx`.
Each offers what Convex's offers (``db``, ``auth``, ``storage``, ``scheduler``, ``env``,
``run_query``…) and no way into Mainspring's machinery: ``ctx.db`` is a
:class:`~mainspring.db.facade.DatabaseReader` / ``DatabaseWriter``, never the internal
document writer, and there is no ``ctx.runtime``. Asking for anything else is an
``AttributeError`` that lists what the ctx does offer.

Mainspring's own code reaches the call behind a ctx with :func:`scope_of` (work pools run
inside the caller's transaction, for instance). Its built-in functions (``_system/…``, behind
the CLI) are declared with :func:`~mainspring.functions.system_function` and get a
:class:`SystemCtx` with the internal reader or writer instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from .auth import Auth
from .db.facade import DatabaseReader, DatabaseWriter, refuse
from .db.store import DocumentReader, DocumentWriter
from .errors import NotAllowedError
from .scheduling.scheduler import ActionScheduler, MutationScheduler
from .scheduling.service import SchedulingKernel
from .storage.context import StorageContext

if TYPE_CHECKING:
    from .env import EnvironmentVariables
    from .functions import Kind
    from .storage.service import StorageService


class CtxKernel(SchedulingKernel, Protocol):
    """What a ctx is built on: the kernel, with the scheduler's, storage's and the
    environment variables' state (the runtime)."""

    storage: StorageService
    env: EnvironmentVariables


__all__ = ["ActionCtx", "CallScope", "MutationCtx", "QueryCtx", "SystemCtx", "scope_of"]


class CallScope:
    """Internal: the call behind a ctx (never handed to user code). A plain slotted class,
    not a dataclass: one is made per function call, on the hot path."""

    __slots__ = ("auth", "kind", "reader", "runtime")

    def __init__(
        self, runtime: CtxKernel, auth: Auth, kind: Kind, reader: DocumentReader | None
    ) -> None:
        self.runtime = runtime
        self.auth = auth
        self.kind: Kind = kind
        #: The query's snapshot or the mutation's transaction; None in an action.
        self.reader = reader

    @property
    def writer(self) -> DocumentWriter | None:
        """The mutation's transaction (None in queries and actions)."""
        return self.reader if isinstance(self.reader, DocumentWriter) else None


def scope_of(ctx: object) -> CallScope:
    """The call behind ``ctx``; NotAllowedError if ``ctx`` is not a function's ctx."""
    scope = getattr(ctx, "_scope", None)
    if not isinstance(scope, CallScope):
        raise NotAllowedError(f"expected a function's ctx, got {type(ctx).__name__}")
    return scope


class EnvView(Mapping[str, str]):
    """``ctx.env``: the deployment's environment variables, read-only."""

    __slots__ = ("_variables",)

    def __init__(self, variables: Mapping[str, str]) -> None:
        self._variables = variables

    def __getitem__(self, name: str) -> str:
        return self._variables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._variables)

    def __len__(self) -> int:
        return len(self._variables)

    def __repr__(self) -> str:
        return repr(self._variables)

    if not TYPE_CHECKING:  # type checkers must still flag unknown attributes

        def __getattr__(self, name: str) -> NoReturn:
            refuse("ctx.env", name, "a read-only mapping (ctx.env['NAME'], ctx.env.get('NAME'))")


class _Ctx:
    __slots__ = ("_env", "_scope", "_storage", "auth")
    _offers = ""

    def __init__(self, scope: CallScope) -> None:
        self._scope = scope
        self._storage: StorageContext | None = None
        self._env: EnvView | None = None
        self.auth = scope.auth

    @property
    def env(self) -> Mapping[str, str]:
        """The deployment's environment variables (``ctx.env["NAME"]``), read-only."""
        if self._env is None:
            self._env = EnvView(self._scope.runtime.env)
        return self._env

    def now_ms(self) -> float:
        """Now, in ms since the epoch, by the deployment's clock (virtual in the test
        harness, so code that compares times with it is testable) — use it, not
        ``time.time()``, for ``Date.now()``."""
        return self._scope.runtime.clock.now_ms()

    @property
    def storage(self) -> StorageContext:
        """Stored files (what each kind may do: see :mod:`mainspring.storage.context`)."""
        if self._storage is None:
            scope = self._scope
            self._storage = StorageContext(scope.runtime.storage, scope.kind, scope.reader)
        return self._storage

    if not TYPE_CHECKING:  # type checkers must still flag unknown attributes

        def __getattr__(self, name: str) -> NoReturn:
            article = "an" if self._scope.kind == "action" else "a"
            refuse(f"{article} {self._scope.kind}'s ctx", name, self._offers)


class QueryCtx(_Ctx):
    """``ctx`` of a query: ``db`` (read-only snapshot), ``auth``, ``env`` and ``storage``."""

    __slots__ = ("db",)
    _offers = "db, auth, env, storage, now_ms"

    def __init__(self, scope: CallScope, db: DatabaseReader) -> None:
        super().__init__(scope)
        self.db = db


class MutationCtx(_Ctx):
    """``ctx`` of a mutation: ``db`` (a serializable transaction), ``auth``, ``env``,
    ``storage`` and ``scheduler``."""

    __slots__ = ("_scheduler", "db")
    _offers = "db, auth, env, storage, scheduler, now_ms"

    def __init__(self, scope: CallScope, db: DatabaseWriter) -> None:
        super().__init__(scope)
        self.db = db
        self._scheduler: MutationScheduler | None = None

    @property
    def scheduler(self) -> MutationScheduler:
        """``run_after``, ``run_at``, ``cancel``: take effect only if this mutation commits."""
        if self._scheduler is None:
            writer = self._scope.writer
            assert writer is not None
            self._scheduler = MutationScheduler(self._scope.runtime, writer)
        return self._scheduler


class ActionCtx(_Ctx):
    """``ctx`` of an action: no direct database access; call queries and mutations instead."""

    __slots__ = ("_scheduler",)
    _offers = "auth, env, storage, scheduler, run_query, run_mutation, run_action, now_ms"

    def __init__(self, scope: CallScope) -> None:
        super().__init__(scope)
        self._scheduler: ActionScheduler | None = None

    @property
    def scheduler(self) -> ActionScheduler:
        """``run_after``, ``run_at``, ``cancel``: each takes effect at once."""
        if self._scheduler is None:
            self._scheduler = ActionScheduler(self._scope.runtime)
        return self._scheduler

    async def run_query(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a query (public or internal) in its own snapshot, as this caller."""
        scope = self._scope
        return await scope.runtime.call(function, args or {}, auth=scope.auth, kind="query")

    async def run_mutation(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run a mutation in its own transaction, as this caller."""
        scope = self._scope
        return await scope.runtime.call(function, args or {}, auth=scope.auth, kind="mutation")

    async def run_action(self, function: Any, args: dict[str, Any] | None = None) -> Any:
        """Run another action, as this caller."""
        scope = self._scope
        return await scope.runtime.call(function, args or {}, auth=scope.auth, kind="action")


class SystemCtx(_Ctx):
    """``ctx`` of Mainspring's built-in functions (``_system/…``): the internal reader or
    writer as ``db`` and the runtime. Never handed to user code."""

    __slots__ = ("_scheduler", "db", "runtime")
    _offers = "db, runtime, auth, env, storage, scheduler, now_ms"

    def __init__(self, scope: CallScope) -> None:
        super().__init__(scope)
        self.runtime = scope.runtime
        self.db: Any = scope.reader
        self._scheduler: MutationScheduler | None = None

    @property
    def scheduler(self) -> MutationScheduler:
        """The mutation's scheduler (system mutations only)."""
        if self._scheduler is None:
            writer = self._scope.writer
            if writer is None:
                raise NotAllowedError("ctx.scheduler: only in a mutation")
            self._scheduler = MutationScheduler(self._scope.runtime, writer)
        return self._scheduler
