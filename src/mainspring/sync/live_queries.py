"""The live queries of one process, shared by every connection subscribed to them.

A :class:`LiveQuery` is one distinct query — path, arguments, identity and starting journal —
however many connections watch it. It keeps its latest :class:`QueryOutcome` and the read
set behind it. A commit whose changes meet that read set bumps its *generation* and starts
one re-run for everyone (one at a time per query: a commit during a run is followed by
another run); the outcome gets a new *version*, and the watching connections are woken,
only if it differs, so unchanged results cost no connection anything. Idle queries cost
nothing: no polling, no timers.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .. import values
from ..auth import UserIdentity
from ..db.page_journal import journal_scope
from ..db.read_set import ReadSet, recording
from ..kernel import Kernel
from ..logs import capture_logs
from ..wire.encoding import encode_value
from ..wire.failures import describe_failure
from .changes import Changes
from .messages import QueryOutcome

if TYPE_CHECKING:
    from ..functions import Kind
    from ..kernel import CallResult, CommitListener, MutationWrapper, PreCommitHook, Service

__all__ = ["LiveQueries", "LiveQuery", "QueryKey", "SyncKernel"]


class SyncKernel(Kernel, Protocol):
    """What live queries run on: the kernel, top-level calls as HTTP makes them, the
    commit feed (after each commit, and just before it inside the transaction) and the
    deployment's services (the runtime)."""

    async def run(
        self,
        path: str,
        args: Any,
        *,
        kind: Kind | None = None,
        identity: UserIdentity | None = None,
        admin: bool = False,
        wrap_mutation: MutationWrapper | None = None,
    ) -> CallResult: ...

    def on_commit(self, listener: CommitListener) -> None: ...

    def before_commit(self, hook: PreCommitHook) -> None: ...

    def add_service(self, service: Service) -> None: ...

    #: The admin key callers may present (internal functions allowed).
    admin_key: str | None

    async def authenticate(self, token: str) -> UserIdentity:
        """The verified identity in a bearer token."""
        ...


log = logging.getLogger("mainspring.sync")

#: Live query runs in flight at once in a process.
MAX_CONCURRENT_RUNS = 8


@dataclass(frozen=True, slots=True)
class QueryKey:
    """What makes two subscriptions the same query."""

    path: str
    args: str  # the convex-JSON arguments, keys sorted
    identity: str | None
    journal: str | None


def identity_key(identity: UserIdentity | None, admin: bool) -> str | None:
    """A stable text for an identity (queries may read any of its claims)."""
    if identity is None:
        return "admin" if admin else None
    return json.dumps(identity.to_dict(), sort_keys=True, default=str)


class LiveQuery:
    """One distinct live query and its latest outcome."""

    def __init__(
        self,
        owner: LiveQueries,
        key: QueryKey,
        args: dict[str, Any],
        identity: UserIdentity | None,
        admin: bool,
    ) -> None:
        self._owner = owner
        self.key = key
        self._args = args
        self._identity = identity
        self._admin = admin
        #: Callbacks of the connections watching this query (each wakes one session).
        self.watchers: set[Callable[[], None]] = set()
        self.outcome: QueryOutcome | None = None
        #: Bumped when the outcome changes; what a connection compares with what it sent.
        self.version = 0
        self.reads: ReadSet | None = None
        self.journal = key.journal
        self._generation = 0  # bumped by each commit that may change the outcome
        self._outcome_generation = -1
        self._run: asyncio.Task[None] | None = None

    def invalidate(self) -> None:
        """A commit may have changed the outcome: re-run it (once for all watchers); they
        are woken only if the outcome did change."""
        self._generation += 1
        self._start_run()

    def _start_run(self) -> None:
        # One run at a time: a run in flight when an invalidation arrives is followed by
        # another once it ends (see _execute), so no commit is missed and none is run twice.
        if self._run is None:
            # A fresh context: the run must not inherit the caller's (a committing
            # mutation's log capture, read set or journal scope).
            self._run = asyncio.create_task(
                self._execute(self._generation), context=contextvars.Context()
            )

    def needs_run(self, changes: Changes) -> bool:
        """Whether ``changes`` may change the outcome (always, while a run is in flight)."""
        if self.reads is None or self._run is not None:
            return True
        return changes.affects(self.reads)

    async def current(self) -> tuple[int, QueryOutcome]:
        """The outcome as of at least the latest invalidation before this call."""
        wanted = self._generation
        while self._outcome_generation < wanted or self.outcome is None:
            self._start_run()
            assert self._run is not None
            # Shielded: one asker going away must not cancel the run the others share.
            await asyncio.shield(self._run)
        return self.version, self.outcome

    async def _execute(self, generation: int) -> None:
        try:
            outcome, reads, journal = await self._owner.execute(self)
        finally:
            self._run = None
        self._outcome_generation = generation
        self.reads = reads
        if journal is not None:
            self.journal = journal  # the page's end stays where the first run put it
        changed = outcome != self.outcome
        if changed:
            self.outcome = outcome
            self.version += 1
        if self._generation > generation and self.watchers:
            self._start_run()  # invalidated while running: once more
        if changed:
            for wake in self.watchers:
                wake()

    @property
    def identity(self) -> UserIdentity | None:
        """Who the query runs as."""
        return self._identity

    @property
    def args(self) -> dict[str, Any]:
        """The arguments, as sent (convex JSON, decoded at each run)."""
        return self._args

    @property
    def admin(self) -> bool:
        """Whether the connection holds the admin key (internal functions allowed)."""
        return self._admin


class LiveQueries:
    """Every live query of a process, by key."""

    def __init__(self, runtime: SyncKernel) -> None:
        self._runtime = runtime
        self._queries: dict[QueryKey, LiveQuery] = {}
        # Re-runs share the event loop and the database with requests: a commit that
        # invalidates thousands of queries must not queue every mutation behind them.
        self._running = asyncio.Semaphore(MAX_CONCURRENT_RUNS)

    def __len__(self) -> int:
        return len(self._queries)

    def watch(
        self,
        path: str,
        args: dict[str, Any],
        identity: UserIdentity | None,
        admin: bool,
        journal: str | None,
        wake: Callable[[], None],
    ) -> LiveQuery:
        """The live query for these parameters (made if new), with ``wake`` watching it."""
        try:
            args_text = json.dumps(args, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError, RecursionError):
            args_text = repr(args)  # malformed arguments fail at run time, per query
        key = QueryKey(path, args_text, identity_key(identity, admin), journal)
        query = self._queries.get(key)
        if query is None:
            query = self._queries[key] = LiveQuery(self, key, args, identity, admin)
        query.watchers.add(wake)
        return query

    def unwatch(self, query: LiveQuery, wake: Callable[[], None]) -> None:
        """``wake`` stops watching; the query is forgotten when nobody watches it."""
        query.watchers.discard(wake)
        if not query.watchers and self._queries.get(query.key) is query:
            del self._queries[query.key]

    def apply(self, changes: Changes) -> int:
        """Invalidate the queries ``changes`` may affect; how many there were."""
        hit = [query for query in self._queries.values() if query.needs_run(changes)]
        for query in hit:
            query.invalidate()
        return len(hit)

    async def execute(self, query: LiveQuery) -> tuple[QueryOutcome, ReadSet, str | None]:
        """Run ``query`` once, recording what it read and the journal it leaves."""
        async with self._running:
            return await self._execute(query)

    async def _execute(self, query: LiveQuery) -> tuple[QueryOutcome, ReadSet, str | None]:
        reads = ReadSet()
        path = query.key.path
        with (
            recording(reads),
            journal_scope(query.journal) as journal,
            capture_logs(path) as logs,
        ):
            try:
                args = values.from_json(query.args, "args")
                result = await self._runtime.run(
                    path, args, kind="query", identity=query.identity, admin=query.admin
                )
                value = encode_value(result.value, "convex_encoded_json")
            except Exception as exc:
                failure = describe_failure(exc, path, "convex_encoded_json")
                outcome = QueryOutcome.failure(
                    failure.message,
                    logs.lines,
                    journal.journal_out,
                    failure.data,
                    has_data=failure.has_data,
                )
            else:
                outcome = QueryOutcome.success(value, logs.lines, journal.journal_out)
        return outcome, reads, journal.journal_out
