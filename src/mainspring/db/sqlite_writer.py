"""SQLite's one writer: write transactions one at a time, and group commit.

Write transactions take turns on the writer connection (an asyncio lock in-process, ``BEGIN
IMMEDIATE`` across processes, a busy lock waited for with ``asyncio.sleep``). With
``synchronous=FULL`` each COMMIT fsyncs the WAL, and at a few hundred microseconds that fsync,
not the statements, bounds how many mutations commit per second. So transactions that queue
behind one another share one: a transaction that ends while others wait for the writer leaves
its writes in the open transaction and lets the next one run; the last of the queue (or a
commit task queued behind them) commits for all of them.

What each transaction still gets:

* **All or nothing, alone.** Each runs inside a SAVEPOINT of the shared transaction: one that
  raises is rolled back to it, and the others' writes stay.
* **Serializable.** They run one after another on one connection, each seeing the writes of
  those before it, and commit together or not at all.
* **Done means durable.** Its ``async with`` exits only once the COMMIT holding its writes has
  succeeded, and raises if that COMMIT fails (:class:`RetryableConflict`: retry it whole, as
  nothing of it was kept).

A group holds at most :data:`MAX_GROUP` transactions, so other processes waiting for the
write lock are not kept out for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import DatabaseError
from .base import RetryableConflict

__all__ = ["MAX_GROUP", "Writer"]

log = logging.getLogger("mainspring.db")

#: The most write transactions one COMMIT takes.
MAX_GROUP = 64
Notifications = list[tuple[str, str]]


def busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says another connection holds a lock."""
    return "locked" in str(exc) or "busy" in str(exc)


@dataclass
class _Group:
    """The open transaction and the members whose writes it holds."""

    done: asyncio.Future[None]
    members: int = 0
    notifications: Notifications = field(default_factory=list)
    committer: asyncio.Task[None] | None = None


class Writer:
    """Runs write transactions on ``conn``; ``deliver`` gets their notifications once
    committed."""

    def __init__(
        self, conn: sqlite3.Connection, *, fsync: bool, deliver: Callable[[Notifications], None]
    ) -> None:
        self.conn = conn
        self._fsync = fsync
        self._deliver = deliver
        self._lock = asyncio.Lock()
        self._queued = 0  # transactions waiting for the lock
        self._group: _Group | None = None

    @contextlib.asynccontextmanager
    async def transaction(self, notifications: Notifications) -> AsyncIterator[None]:
        """One write transaction (the caller's statements run on ``conn`` inside the block);
        ``notifications`` collects what to deliver after its commit."""
        self._queued += 1
        try:
            await self._lock.acquire()
        finally:
            self._queued -= 1
        group: _Group | None = None
        try:
            if self._group is None:
                await self._begin()
                self._group = _Group(asyncio.get_running_loop().create_future())
            group = self._group
            self.conn.execute("SAVEPOINT member")
            try:
                yield
            except BaseException:
                self._undo_member(group)
                raise
            self.conn.execute("RELEASE member")
            group.members += 1
            group.notifications.extend(notifications)
            if self._queued and group.members < MAX_GROUP:
                # Others are waiting: they join this transaction; the last one commits it,
                # or this task, queued behind them, does.
                if group.committer is None:
                    group.committer = asyncio.create_task(self._commit_later(group))
            else:
                await self._commit(group)
        finally:
            self._lock.release()
        assert group is not None  # set, or the block raised
        await _outcome(group.done)

    async def wait_idle(self) -> None:
        """Wait until no transaction is open (before closing the connection)."""
        async with self._lock:
            if self._group is not None:
                await self._commit(self._group)

    def _undo_member(self, group: _Group) -> None:
        if not self.conn.in_transaction:
            # SQLite rolled the whole transaction back itself (a disk or I/O error).
            self._end(group, RetryableConflict("sqlite rolled back the shared transaction"))
            return
        self.conn.execute("ROLLBACK TO member")
        self.conn.execute("RELEASE member")
        if group.members == 0:  # nothing of anyone's is in it
            self.conn.execute("ROLLBACK")
            self._end(group, None)

    async def _begin(self) -> None:
        if self.conn.in_transaction:
            # Left open by a failed COMMIT: nothing in it was committed, so roll it back
            # rather than have every later transaction fail to begin.
            log.warning("sqlite: rolling back a transaction left open by a failed commit")
            self.conn.execute("ROLLBACK")
        delay = 0.001
        for _ in range(2000):
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not busy(exc):
                    raise DatabaseError(f"sqlite: {exc}") from exc
                await asyncio.sleep(delay)  # another process holds the write lock
                delay = min(delay * 2, 0.05)
        raise RetryableConflict("the SQLite database stayed locked by another process")

    async def _commit_later(self, group: _Group) -> None:
        async with self._lock:
            if self._group is group:
                await self._commit(group)

    async def _commit(self, group: _Group) -> None:
        """COMMIT the group's transaction (the lock is held) and settle its members."""
        try:
            if self._fsync:
                # The commit fsyncs the WAL: off the loop, so queries are answered meanwhile.
                # A cancelled caller still waits for it: the next writer must not use the
                # connection while the commit runs in the thread.
                commit = asyncio.ensure_future(asyncio.to_thread(self.conn.execute, "COMMIT"))
                try:
                    await asyncio.shield(commit)
                except asyncio.CancelledError:
                    with contextlib.suppress(Exception):
                        await asyncio.wait([commit])
                    self._settle(group, commit)
                    raise
            else:
                self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._fail(group, exc)
            return
        except BaseException as exc:
            # Whatever it was, no member may be left waiting for an outcome.
            self._end(group, DatabaseError(f"sqlite commit failed: {exc!r}"))
            raise
        self._end(group, None)

    def _settle(self, group: _Group, commit: asyncio.Future[Any]) -> None:
        exc = commit.exception() if commit.done() and not commit.cancelled() else None
        if isinstance(exc, sqlite3.Error):
            self._fail(group, exc)
        else:
            self._end(group, None)

    def _fail(self, group: _Group, exc: sqlite3.Error) -> None:
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the next BEGIN retries it
                self.conn.execute("ROLLBACK")
        error: DatabaseError = (
            RetryableConflict(f"commit failed: {exc}")
            if busy(exc)
            else DatabaseError(f"sqlite commit failed: {exc}")
        )
        error.__cause__ = exc
        self._end(group, error)

    def _end(self, group: _Group, error: DatabaseError | None) -> None:
        if self._group is group:
            self._group = None
        if group.done.done():
            return
        if error is None:
            group.done.set_result(None)
            self._deliver(group.notifications)
        elif group.members == 0:
            group.done.set_result(None)  # nobody's writes were in it: nobody to tell
        else:
            group.done.set_exception(error)


async def _outcome(done: asyncio.Future[None]) -> None:
    """The group's commit outcome; a cancelled waiter still waits for it (its writes may be
    committed), then is cancelled."""
    try:
        await asyncio.shield(done)
    except asyncio.CancelledError:
        if not done.done():
            await asyncio.wait([done])
        raise
