"""Commits made in one process reach the live queries of the others (PostgreSQL).

A writing transaction describes its changes in a ``NOTIFY`` on the ``sync`` channel, sent in
the transaction so it is delivered only if it commits. PostgreSQL serialises the commits of
notifying transactions, so writers notify only while some *other* process has live queries:
such a process announces itself on ``sync_presence`` every :data:`ANNOUNCE_S` (and at once
when its first query arrives, or when a process starts and asks), and the announcement holds
for :data:`PRESENCE_S`.

A writer that only now learned of a subscriber may have committed un-announced changes it
made before; it therefore sends one "anything may have changed" notice right after learning,
which reaches the subscriber after those commits, so nothing is missed. A listener that lost
its connection is told "anything may have changed" too.

On SQLite there is no server to relay notifications; another process's commit is noticed
by polling (``PRAGMA data_version``, see :mod:`mainspring.db.sqlite_watch`), which cannot
tell it from this process's own commits. A change seen while this process has not committed
lately is certainly foreign and re-runs every live query at once; one seen amid local
commits may be foreign, and re-runs them at most every :data:`AMBIGUOUS_EVERY_S`. So the
CLI's ``mainspring run`` beside ``mainspring dev`` updates open pages too.

Leases and these windows run on the event loop's clock, not the deployment clock: they are
about processes being alive, which a test's virtual time says nothing about.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from ..db.base import Listening
from ..db.store import DocumentWriter
from .changes import EVERYTHING, Changes

if TYPE_CHECKING:
    from ..db.base import Database
    from ..feed import CommitFeed
    from .live_queries import LiveQueries


class _HasDatabase(Protocol):
    database: Database
    feed: CommitFeed


class FannedOut(Protocol):
    """What the fan-out works for (:class:`~.hub.SyncHub`): its live queries, the time of
    this process's latest commit, and the database."""

    queries: LiveQueries
    last_commit: float

    @property
    def runtime(self) -> _HasDatabase: ...


__all__ = ["ANNOUNCE_S", "PRESENCE_S", "Fanout"]

log = logging.getLogger("mainspring.sync")

COMMITS = "sync"
PRESENCE = "sync_presence"
#: How often a process with live queries says so …
ANNOUNCE_S = 10.0
#: … and how long writers believe it.
PRESENCE_S = 30.0
_ASK = "?"
_STOP_TIMEOUT_S = 5.0
#: SQLite: a change this long after our last commit cannot be ours …
LOCAL_WINDOW_S = 1.0
#: … and ambiguous ones re-run everything at most this often.
AMBIGUOUS_EVERY_S = 0.25


class Fanout:
    """Publishes this process's commits and applies other processes' (PostgreSQL only)."""

    def __init__(self, hub: FannedOut) -> None:
        self._hub = hub
        self._me = uuid.uuid4().hex[:12]
        self._enabled = hub.runtime.database.dialect == "postgres"
        self._polled = hub.runtime.database.dialect == "sqlite"
        self._deferred: asyncio.TimerHandle | None = None
        self._others_until = 0.0  # loop time until which another process has live queries
        self._listenings: list[Listening] = []
        self._announce = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen for other processes' commits and presence; ask who is there."""
        feed = self._hub.runtime.feed
        if self._polled:
            self._listenings = [await feed.listen(COMMITS, self._on_sqlite_change)]
        if not self._enabled:
            return
        self._listenings = [
            await feed.listen(COMMITS, self._on_commit),
            await feed.listen(PRESENCE, self._on_presence),
        ]
        self._task = asyncio.create_task(self._announce_loop(), name="sync presence")
        await self._notify(PRESENCE, f"{self._me}{_ASK}")

    async def stop(self) -> None:
        """Stop listening and announcing."""
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        tasks = [t for t in (self._task, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_TIMEOUT_S)  # bounded, as every stop
        for listening in self._listenings:
            await listening.close()
        self._listenings = []

    def subscribers_appeared(self) -> None:
        """This process has live queries now: tell the writers at once."""
        self._announce.set()

    async def before_commit(self, writer: DocumentWriter) -> None:
        """Describe the transaction's changes to other processes, if any is listening."""
        if self._enabled and asyncio.get_running_loop().time() < self._others_until:
            payload = Changes.of(writer.writes).to_payload()
            await self._hub.runtime.feed.notify(writer, COMMITS, f"{self._me}{payload}")

    # -- receiving ------------------------------------------------------------------------------

    def _on_commit(self, payload: str | None) -> None:
        if payload is None:
            self._hub.queries.apply(EVERYTHING)  # the listener was away: anything may be new
        elif not payload.startswith(self._me):  # our own commits were applied in-process
            self._hub.queries.apply(Changes.from_payload(payload[len(self._me) :]))

    def _on_sqlite_change(self, payload: str | None) -> None:
        if payload is not None:
            return  # nothing is sent on this channel on SQLite
        loop = asyncio.get_running_loop()
        if loop.time() - self._hub.last_commit > LOCAL_WINDOW_S:
            self._hub.queries.apply(EVERYTHING)
        elif self._deferred is None:
            self._deferred = loop.call_later(AMBIGUOUS_EVERY_S, self._apply_deferred)

    def _apply_deferred(self) -> None:
        self._deferred = None
        self._hub.queries.apply(EVERYTHING)

    def _on_presence(self, payload: str | None) -> None:
        if payload is not None and payload.startswith(self._me):
            return
        if payload is not None and payload.endswith(_ASK):
            if len(self._hub.queries):
                self._announce.set()
            return
        loop = asyncio.get_running_loop()
        learned = loop.time() >= self._others_until
        self._others_until = loop.time() + PRESENCE_S
        if learned:
            # Commits made before now went un-announced: say "anything may have changed",
            # which the new subscriber receives after them.
            self._in_background(self._notify(COMMITS, f"{self._me}{EVERYTHING.to_payload()}"))

    # -- sending --------------------------------------------------------------------------------

    async def _announce_loop(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: before Python 3.12 wait_for can swallow the
            # cancel that stop() sends (see scheduling.chores.sleep_until_at_most).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ANNOUNCE_S):
                    await self._announce.wait()
            self._announce.clear()
            if len(self._hub.queries):
                await self._notify(PRESENCE, self._me)

    async def _notify(self, channel: str, payload: str) -> None:
        try:
            await self._hub.runtime.feed.notify_now(channel, payload)
        except Exception as exc:  # a failing database must not end the loop
            log.warning("could not notify %s: %s", channel, exc)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
