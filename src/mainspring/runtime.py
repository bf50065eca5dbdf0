"""Running functions: validation, transactions, conflict retries, log capture.

The runtime is the one place that knows how a query, a mutation and an action execute;
the HTTP server, the CLI, the test harness and (later) the scheduler all call through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from . import values
from .auth import Auth, UserIdentity
from .backoff import Backoff
from .clock import Clock, SystemClock
from .context import ActionCtx, CallScope, MutationCtx, QueryCtx, SystemCtx
from .crons.feature import FEATURE as CRONS
from .db.base import Database, RetryableConflict
from .db.facade import DatabaseReader, DatabaseWriter
from .db.lazy import LazySnapshot
from .db.store import Catalog, DocumentReader, DocumentStore, DocumentWriter, WriteSet
from .env import ENV_TABLE, EnvironmentVariables
from .env.feature import FEATURE as ENV
from .errors import (
    ArgumentValidationError,
    AuthenticationError,
    ConflictError,
    NotAllowedError,
    ValidationError,
)
from .features import Feature, check_features
from .feed import CommitFeed
from .functions import FunctionDefinition, Kind
from .ids import table_resolver
from .kernel import (
    CallResult,
    CommitListener,
    MutationWrapper,
    PreCommitHook,
    Service,
)
from .logs import capture_logs
from .registry import FunctionRegistry, LoadedApp
from .scheduling.feature import FEATURE as SCHEDULING
from .scheduling.service import Scheduling
from .storage.base import BlobStore
from .storage.feature import FEATURE as STORAGE
from .storage.service import StorageService
from .sync.feature import FEATURE as SYNC
from .workpool.feature import FEATURE as WORKPOOL
from .workpool.hub import WorkpoolHub

__all__ = ["CallResult", "Runtime"]

log = logging.getLogger("mainspring.runtime")

MAX_MUTATION_ATTEMPTS = 24
#: Between attempts of a mutation that conflicted with concurrent writes (seconds).
CONFLICT_BACKOFF = Backoff(0.002, 2.0, 0.25)
#: Between attempts of processes starting together, racing to create the same tables.
_START_BACKOFF = Backoff(0.005, 2.0, 0.25)
#: How long one service may take to stop (an executor's own grace period is shorter).
SERVICE_STOP_TIMEOUT_S = 60


#: The features every deployment has, in the order their tables are created.
FEATURES: tuple[Feature, ...] = (STORAGE, SCHEDULING, CRONS, ENV, WORKPOOL, SYNC)


_T = TypeVar("_T")


class Runtime:
    """Runs an app's functions against a database."""

    def __init__(
        self,
        app: LoadedApp,
        database: Database,
        clock: Clock | None = None,
        *,
        admin_key: str | None = None,
        blob_store: BlobStore | None = None,
        site_url: str | None = None,
        max_upload_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.registry: FunctionRegistry = app.registry
        self.database = database
        #: The commit feed (in this process, and over notifications between processes).
        self.feed = CommitFeed(database)
        self.clock = clock or SystemClock()
        self.features = FEATURES
        tables = check_features(self.features)
        self.store = DocumentStore(database, self.clock, app.schema, list(tables.values()))
        for feature in self.features:
            for path, definition in feature.functions.items():
                self.registry.add(path, definition)
        #: File storage (``ctx.storage``): ``blob_store`` defaults to a temporary folder.
        self.storage = StorageService(
            self, blob_store, site_url=site_url, max_upload_bytes=max_upload_bytes
        )
        #: ``ctx.env``: the deployment's environment variables, shared by every call.
        self.env = EnvironmentVariables(self)
        self._pre_commit_hooks: list[PreCommitHook] = []
        #: Given by configuration (MAINSPRING_ADMIN_KEY) or generated once and kept in the DB.
        self.admin_key: str | None = admin_key
        #: ``ctx.scheduler``'s shared state: limits, wake-ups, the system functions.
        self.scheduling = Scheduling(self.feed)
        #: Work pools' shared state: pool rows, wake-ups, the system functions.
        self.workpools = WorkpoolHub(self, app.workpools)
        self._services: list[Service] = []
        # The engines of this process wake on the commit feed (live queries subscribe to it
        # too, when a server hosts them).
        self.feed.subscribe(self.scheduling.committed)
        self.feed.subscribe(self.workpools.committed)
        for feature in self.features:
            if feature.install is not None:
                feature.install(self)

    async def start(self) -> None:
        """Open the database, sync the catalog with the schema, load the admin key."""
        await self.database.open()
        for attempt in range(1, MAX_MUTATION_ATTEMPTS + 1):
            try:
                await self._prepare()
                break
            except RetryableConflict:
                # Processes starting together race to create the same tables and admin key.
                self.store.invalidate_catalog()
                if attempt == MAX_MUTATION_ATTEMPTS:
                    raise
                await _START_BACKOFF.sleep(attempt)
        for service in self._services:
            await service.start()

    def add_service(self, service: Service) -> None:
        """Start ``service`` with this runtime (after the database) and stop it before it."""
        self._services.append(service)

    async def _prepare(self) -> None:
        await self.store.prepare()
        await self.storage.start()
        if self.admin_key is not None:
            return
        async with self.database.transaction(write=True) as tx:
            key = await tx.get_meta("admin_key")
            if key is None:
                key = "ms_admin_" + secrets.token_urlsafe(32)
                await tx.set_meta("admin_key", key)
        self.admin_key = key

    async def stop(self) -> None:
        """Stop the services, close the blob store and the database."""
        for service in reversed(self._services):
            try:
                # Bounded: a service stuck on a failing database must not hang shutdown.
                await asyncio.wait_for(service.stop(), timeout=SERVICE_STOP_TIMEOUT_S)
            except TimeoutError:
                log.error(
                    "stopping %r took over %d s; went on without it",
                    service,
                    SERVICE_STOP_TIMEOUT_S,
                )
            except Exception:
                log.exception("stopping %r failed", service)
        await self.storage.stop()
        await self.database.close()

    async def authenticate(self, token: str) -> UserIdentity:
        """The verified identity in a bearer token; AuthenticationError if it is not valid."""
        if self.app.auth is None:
            raise AuthenticationError(
                "this deployment has no auth providers (declare `auth = AuthConfig(...)` in "
                "backend/auth.py) so it cannot verify the token"
            )
        return await self.app.auth.verify(token, self.clock)

    @contextlib.asynccontextmanager
    async def read_snapshot(self) -> AsyncIterator[DocumentReader]:
        """A read-only view of the database at one snapshot (CLI, dashboards, internals)."""
        async with self.database.transaction(write=False) as tx:
            await self.store.ensure_loaded(tx)
            yield DocumentReader(self.store, tx)

    def on_commit(self, listener: CommitListener) -> None:
        """Call ``listener(write_set)`` after every committed mutation that wrote something
        (a subscription to the commit feed)."""
        self.feed.subscribe(listener)

    def before_commit(self, hook: PreCommitHook) -> None:
        """Await ``hook(writer)`` at the end of every write transaction that wrote something,
        inside it (a notification sent there is delivered only if the commit succeeds)."""
        self._pre_commit_hooks.append(hook)

    # -- entry points -------------------------------------------------------------------------

    async def run(
        self,
        path: str,
        args: Any,
        *,
        kind: Kind | None = None,
        identity: UserIdentity | None = None,
        admin: bool = False,
        wrap_mutation: MutationWrapper | None = None,
    ) -> CallResult:
        """A top-level call by path, as from HTTP or the CLI; internal functions need ``admin``.

        ``wrap_mutation`` (mutations only) wraps the body inside its transaction: the sync
        protocol records each request there, so a resent one is answered, not run twice.
        """
        definition = self.registry.lookup(path, allow_internal=admin)
        if kind is not None and definition.kind != kind:
            raise NotAllowedError(f"{definition.path} is a {definition.kind}, not a {kind}")
        await self.env.refresh_if_stale()
        with capture_logs(definition.label) as logs:
            value = await self._invoke(
                definition, args, Auth(identity), top_level=True, wrap=wrap_mutation
            )
        return CallResult(value, logs.lines)

    def resolve(self, function: Any) -> FunctionDefinition:
        """The registered function a definition, reference or path names."""
        return self.registry.resolve(function)

    async def refresh_env(self) -> None:
        """Re-read the environment variables if another process may have changed them."""
        await self.env.refresh_if_stale()

    async def call(
        self, function: Any, args: Any, *, auth: Auth | None = None, kind: Kind | None = None
    ) -> Any:
        """A server-side call by definition or reference (may reach internal functions)."""
        definition = self.registry.resolve(function)
        if kind is not None and definition.kind != kind:
            raise NotAllowedError(f"{definition.label} is a {definition.kind}, not a {kind}")
        await self.env.refresh_if_stale()
        with capture_logs(definition.label):
            return await self._invoke(definition, args, auth or Auth())

    # -- execution ----------------------------------------------------------------------------

    def validate_args(self, definition: FunctionDefinition, args: Any) -> dict[str, Any]:
        """Validate arguments, resolving id tables through the catalog."""
        token = table_resolver.set(self.store.table_name)
        try:
            return definition.validate_args(args)
        finally:
            table_resolver.reset(token)

    async def _invoke(
        self,
        definition: FunctionDefinition,
        args: Any,
        auth: Auth,
        *,
        top_level: bool = False,
        wrap: MutationWrapper | None = None,
    ) -> Any:
        try:
            checked = self.validate_args(definition, args)
        except ValidationError:
            # A table created by another process since our catalog was read: refresh once.
            async with self.database.transaction(write=False) as tx:
                self.store.catalog = await Catalog.load(tx)
            try:
                checked = self.validate_args(definition, args)
            except ValidationError as exc:
                if not top_level:
                    raise
                # The caller's arguments are wrong, not the function: servers answer with a 4xx.
                raise ArgumentValidationError(str(exc)) from exc
        if definition.kind == "query":
            value = await self._run_query(definition, checked, auth)
        elif definition.kind == "mutation":
            value = await self._run_mutation(definition, checked, auth, wrap)
        else:
            value = await definition.handler(self.action_ctx(definition, auth), **checked)
        return self.check_return(definition, value)

    # -- contexts -----------------------------------------------------------------------------

    def query_ctx(
        self, definition: FunctionDefinition, reader: DocumentReader, auth: Auth
    ) -> QueryCtx | SystemCtx:
        """The ctx ``definition`` (a query) gets over ``reader``'s snapshot."""
        scope = CallScope(self, auth, "query", reader)
        return SystemCtx(scope) if definition.system else QueryCtx(scope, DatabaseReader(reader))

    def mutation_ctx(
        self, definition: FunctionDefinition, writer: DocumentWriter, auth: Auth
    ) -> MutationCtx | SystemCtx:
        """The ctx ``definition`` (a mutation) gets in ``writer``'s transaction."""
        scope = CallScope(self, auth, "mutation", writer)
        if definition.system:
            return SystemCtx(scope)
        return MutationCtx(scope, DatabaseWriter(writer))

    def action_ctx(
        self, definition: FunctionDefinition | None, auth: Auth
    ) -> ActionCtx | SystemCtx:
        """The ctx ``definition`` (an action; None for an HTTP action's handler) gets."""
        scope = CallScope(self, auth, "action", None)
        return SystemCtx(scope) if definition and definition.system else ActionCtx(scope)

    def mutation_body(
        self, definition: FunctionDefinition, args: Any, auth: Auth
    ) -> Callable[[DocumentWriter], Awaitable[Any]]:
        """``definition`` (a mutation) as a body to run in a given transaction: validate
        ``args``, run the handler, check what it returns (scheduled and work-pool
        mutations, which commit their own bookkeeping in the same transaction)."""

        async def body(writer: DocumentWriter) -> Any:
            checked = self.validate_args(definition, args)
            value = await definition.handler(self.mutation_ctx(definition, writer, auth), **checked)
            return self.check_return(definition, value)

        return body

    def check_return(self, definition: FunctionDefinition, value: Any) -> Any:
        """``value`` checked against ``definition``'s return type and the value rules."""
        token = table_resolver.set(self.store.table_name)
        try:
            value = definition.validate_return(value)
        finally:
            table_resolver.reset(token)
        values.check_value(value, f"{definition.label}: return value")
        return value

    async def _run_query(
        self, definition: FunctionDefinition, args: dict[str, Any], auth: Auth
    ) -> Any:
        async with LazySnapshot(self.database) as tx:
            await self.store.ensure_loaded(tx)
            ctx = self.query_ctx(definition, DocumentReader(self.store, tx), auth)
            return await definition.handler(ctx, **args)

    async def _run_mutation(
        self,
        definition: FunctionDefinition,
        args: dict[str, Any],
        auth: Auth,
        wrap: MutationWrapper | None = None,
    ) -> Any:
        def body(writer: DocumentWriter) -> Awaitable[Any]:
            return definition.handler(self.mutation_ctx(definition, writer, auth), **args)

        return await self.transact(body if wrap is None else wrap(body), label=definition.label)

    async def transact(
        self,
        body: Callable[[DocumentWriter], Awaitable[_T]],
        *,
        label: str,
        claim: bool = False,
    ) -> _T:
        """Run ``body(writer)`` in a write transaction, as a mutation runs.

        A conflict retries the whole body (bounded, with backoff; ConflictError naming
        ``label`` when exhausted); after the commit the writes are published (after-commit
        callbacks, commit listeners). ``claim`` opens the backend's claim transaction instead
        (see :mod:`mainspring.db.base`) — for Mainspring's own work queues only.
        """
        for attempt in range(1, MAX_MUTATION_ATTEMPTS + 1):
            writer: DocumentWriter | None = None
            begin = (
                self.database.claim_transaction()
                if claim
                else self.database.transaction(write=True)
            )
            try:
                async with begin as tx:
                    await self.store.ensure_loaded(tx)
                    writer = DocumentWriter(self.store, tx)
                    result = await body(writer)
                    if writer.writes:
                        for hook in self._pre_commit_hooks:
                            await hook(writer)
            except RetryableConflict as exc:
                self.store.invalidate_catalog()  # it may hold tables the rollback undid
                if attempt == MAX_MUTATION_ATTEMPTS:
                    raise ConflictError(
                        f"{label}: gave up after {attempt} attempts that conflicted "
                        f"with concurrent writes ({exc})"
                    ) from exc
                await CONFLICT_BACKOFF.sleep(attempt)
                continue
            except BaseException:
                if writer is not None and writer.writes:
                    self.store.invalidate_catalog()
                raise
            await self._published(writer.writes)
            return result
        raise AssertionError("unreachable")

    async def _published(self, writes: WriteSet) -> None:
        for callback in writes.after_commit:
            # Callbacks may be async (deleting a blob): awaited before the mutation returns.
            outcome = callback()
            if inspect.isawaitable(outcome):
                await outcome
        if ENV_TABLE in writes.documents.values():
            self.env.invalidate()
        if writes:
            self.feed.publish(writes)
