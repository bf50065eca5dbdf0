"""One WebSocket connection's side of the sync protocol, independent of the transport.

The session keeps what the client's state machine demands (protocol doc §3): the version it
last sent, the query-set and identity versions it has received, and its live queries. One
task pushes Transitions: each round takes a timestamp, brings every watched query up to
date (re-running only invalidated ones, shared with other connections), and sends what
changed since this connection last saw it — even nothing, when a mutation must be
reflected. Mutations run one at a time in arrival order; actions run concurrently.

Read-your-writes: a mutation's commit invalidates the affected queries synchronously, before
its timestamp ``T`` is taken; the MutationResponse (``ts = T``) is sent first, then a
Transition whose timestamp is taken after ``T`` and whose results were computed after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import values
from ..auth import UserIdentity
from ..errors import AuthenticationError
from ..logs import capture_logs
from ..wire.encoding import encode_value
from ..wire.failures import describe_failure
from . import messages
from .live_queries import LiveQuery
from .protocol import (
    Action,
    Add,
    Authenticate,
    ClientMessage,
    Connect,
    Event,
    ModifyQuerySet,
    Mutation,
    ProtocolError,
    Remove,
    StateVersion,
    canonical_path,
)
from .session_requests import once

if TYPE_CHECKING:
    from ..db.store import DocumentWriter
    from ..kernel import MutationBody
    from .hub import SyncHub

__all__ = ["AuthRejected", "SyncSession"]

log = logging.getLogger("mainspring.sync")

Send = Callable[[str], Awaitable[None]]


class AuthRejected(Exception):
    """The token was refused: the AuthError has been sent; close the connection."""


@dataclass
class _Watch:
    """One of the connection's queries: what it asked for and what it was last sent."""

    path: str
    args: dict[str, Any]
    journal: str | None
    query: LiveQuery
    sent: int = 0  # the query's version last sent (0: nothing yet)


class SyncSession:
    """The protocol state of one connection; feed it messages with :meth:`receive`."""

    def __init__(self, hub: SyncHub, send: Send) -> None:
        self._hub = hub
        self._send = send
        self.session_id: str | None = None
        self._sent = StateVersion(0, 0, 0)
        self._query_set = 0
        self._identity_version = 0
        self._identity: UserIdentity | None = None
        self._admin = False
        self._watches: dict[int, _Watch] = {}
        self._removed: list[int] = []
        self._dirty = asyncio.Event()
        self._must_send = False  # a Transition is owed even if nothing changed
        # Cleared from the end of a mutation's body until its MutationResponse is out: no
        # Transition showing its writes may overtake the response (see the module docstring).
        self._answered = asyncio.Event()
        self._answered.set()
        self._expired_reported = False
        self._mutations: asyncio.Queue[Mutation] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start pushing Transitions and running mutations."""
        self._spawn(self._push_loop(), "sync push")
        self._spawn(self._mutation_loop(), "sync mutations")

    async def close(self) -> None:
        """Stop every task and stop watching every query."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for watch in self._watches.values():
            self._hub.queries.unwatch(watch.query, self._wake)
        self._watches.clear()

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        # A send to a client that went away ends that task; the reader sees the close.
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, ConnectionError):
            log.error("%s failed", task.get_name(), exc_info=exc)

    def _wake(self, *, must_send: bool = False) -> None:
        if must_send:
            self._must_send = True
        self._dirty.set()

    # -- messages -------------------------------------------------------------------------------

    async def receive(self, message: ClientMessage) -> None:
        """Handle one client message (ProtocolError or AuthRejected: close the connection)."""
        if isinstance(message, ModifyQuerySet):
            self._modify(message)
        elif isinstance(message, Mutation):
            self._mutations.put_nowait(message)
        elif isinstance(message, Action):
            self._spawn(self._action(message), "sync action")
        elif isinstance(message, Authenticate):
            await self._authenticate(message)
        elif isinstance(message, Connect):
            self.session_id = message.session_id
            if message.max_observed_ts is not None:
                # A client that saw ts T waits for a Transition at T or later.
                self._hub.clock.observe(message.max_observed_ts)
        elif isinstance(message, Event):
            pass

    def _modify(self, message: ModifyQuerySet) -> None:
        if message.base_version != self._query_set:
            raise ProtocolError(
                f"BaseVersionMismatch: ModifyQuerySet from version {message.base_version}, "
                f"but the query set is at version {self._query_set}"
            )
        if message.new_version <= message.base_version:
            raise ProtocolError("ModifyQuerySet.newVersion must be greater than baseVersion")
        had_queries = len(self._hub.queries) > 0
        for change in message.modifications:
            if isinstance(change, Add):
                if change.query_id in self._watches:
                    raise ProtocolError(f"query {change.query_id} was added twice")
                path = canonical_path(change.udf_path)
                self._watches[change.query_id] = _Watch(
                    path,
                    change.args,
                    change.journal,
                    self._watch(path, change.args, change.journal),
                )
            elif isinstance(change, Remove):
                watch = self._watches.pop(change.query_id, None)
                if watch is not None:
                    self._hub.queries.unwatch(watch.query, self._wake)
                self._removed.append(change.query_id)
        if not had_queries and len(self._hub.queries) > 0:
            # The process's first live query: other processes must start announcing their
            # commits now (a socket opening is too early: it has no queries to announce).
            self._hub.fanout.subscribers_appeared()
        self._query_set = message.new_version
        self._wake(must_send=True)

    def _watch(self, path: str, args: dict[str, Any], journal: str | None) -> LiveQuery:
        return self._hub.queries.watch(path, args, self._identity, self._admin, journal, self._wake)

    async def _authenticate(self, message: Authenticate) -> None:
        if message.base_version != self._identity_version:
            raise ProtocolError(
                f"BaseVersionMismatch: Authenticate from version {message.base_version}, but "
                f"the identity is at version {self._identity_version}"
            )
        identity, admin = None, False
        if message.token_type == "User":
            assert message.value is not None
            try:
                identity = await self._hub.runtime.authenticate(message.value)
            except AuthenticationError as exc:
                await self._send(
                    messages.auth_error(str(exc), self._identity_version, attempted=True)
                )
                raise AuthRejected(str(exc)) from None
        elif message.token_type == "Admin":
            if message.value != self._hub.runtime.admin_key:
                error = "the admin key is not valid for this deployment"
                await self._send(messages.auth_error(error, self._identity_version, attempted=True))
                raise AuthRejected(error)
            admin = True
        self._identity, self._admin = identity, admin
        self._identity_version += 1
        self._expired_reported = False
        # Every query runs again as the new identity (the bump is the client's confirmation).
        for watch in self._watches.values():
            old = watch.query
            watch.query = self._watch(watch.path, watch.args, watch.journal)
            watch.sent = 0
            self._hub.queries.unwatch(old, self._wake)
        self._wake(must_send=True)

    # -- pushing Transitions --------------------------------------------------------------------

    async def _push_loop(self) -> None:
        while True:
            await self._dirty.wait()
            await self._answered.wait()
            self._dirty.clear()
            await self._push()

    async def _push(self) -> None:
        # Everything below describes the state as of this moment: later changes set the
        # event again and go out in the next Transition.
        ts = self._hub.clock.now()
        query_set, identity = self._query_set, self._identity_version
        watches = [(query_id, watch, watch.query) for query_id, watch in self._watches.items()]
        removed, self._removed = self._removed, []
        must_send, self._must_send = self._must_send, False
        await self._check_expiry()
        if len(watches) == 1:
            # The common case, without gather's task and future per push (a commit wakes
            # every connection watching the query).
            outcomes = [await watches[0][2].current()]
        else:
            outcomes = await asyncio.gather(*(query.current() for _, _, query in watches))
        changes = []
        for (query_id, watch, query), (version, outcome) in zip(watches, outcomes, strict=True):
            if version != watch.sent and watch.query is query:
                watch.sent = version
                changes.append(outcome.modification(query_id))
        changes.extend(messages.query_removed(query_id) for query_id in removed)
        end = StateVersion(query_set, identity, ts)
        if (
            not changes
            and not must_send
            and (query_set, identity)
            == (
                self._sent.query_set,
                self._sent.identity,
            )
        ):
            return
        text = messages.transition(self._sent, end, changes)
        self._sent = end
        await self._send(text)

    async def _check_expiry(self) -> None:
        identity = self._identity
        if identity is None or self._expired_reported:
            return
        expires = identity.claims.get("exp")
        if isinstance(expires, (int, float)) and expires * 1000 <= self._hub.runtime.clock.now_ms():
            # The client fetches a fresh token and sends it on this same socket.
            self._expired_reported = True
            await self._send(
                messages.auth_error(
                    "the auth token expired", self._identity_version, attempted=False
                )
            )

    # -- mutations and actions ------------------------------------------------------------------

    async def _mutation_loop(self) -> None:
        while True:
            message = await self._mutations.get()
            await self._mutation(message)

    async def _mutation(self, message: Mutation) -> None:
        try:
            await self._answer(message)
        finally:
            self._answered.set()

    def _hold_transitions(self, body: MutationBody) -> MutationBody:
        """``body``, then Transitions wait (its writes commit next) until the response."""

        async def run(writer: DocumentWriter) -> Any:
            result = await body(writer)
            self._answered.clear()
            return result

        return run

    async def _answer(self, message: Mutation) -> None:
        path = canonical_path(message.udf_path)
        exactly_once = (
            once(self.session_id, message.request_id, self._hub.runtime.clock)
            if (self.session_id is not None)
            else None
        )

        def wrap(body: MutationBody) -> MutationBody:
            return self._hold_transitions(exactly_once(body) if exactly_once else body)

        with capture_logs(path) as logs:
            try:
                args = values.from_json(message.args, "args")
                result = await self._hub.runtime.run(
                    path,
                    args,
                    kind="mutation",
                    identity=self._identity,
                    admin=self._admin,
                    wrap_mutation=wrap,
                )
                value = encode_value(result.value, "convex_encoded_json")
            except Exception as exc:
                failure = describe_failure(exc, path, "convex_encoded_json")
                text = messages.mutation_failure(
                    message.request_id,
                    failure.message,
                    logs.lines,
                    failure.data,
                    has_data=failure.has_data,
                )
                await self._send(text)
                return
        # Taken after the commit's invalidations ran: the next Transition reflects it.
        ts = self._hub.clock.now()
        await self._send(messages.mutation_success(message.request_id, value, ts, logs.lines))
        self._wake(must_send=True)

    async def _action(self, message: Action) -> None:
        path = canonical_path(message.udf_path)
        with capture_logs(path) as logs:
            try:
                args = values.from_json(message.args, "args")
                result = await self._hub.runtime.run(
                    path, args, kind="action", identity=self._identity, admin=self._admin
                )
                value = encode_value(result.value, "convex_encoded_json")
            except Exception as exc:
                failure = describe_failure(exc, path, "convex_encoded_json")
                text = messages.action_response(
                    message.request_id,
                    success=False,
                    result=failure.message,
                    log_lines=logs.lines,
                    data=failure.data,
                    has_data=failure.has_data,
                )
            else:
                text = messages.action_response(
                    message.request_id, success=True, result=value, log_lines=logs.lines
                )
        with contextlib.suppress(ConnectionError):
            await self._send(text)
