"""Notifications on SQLite: in this process on commit, from other processes by polling.

SQLite has no server to relay a ``NOTIFY``. A transaction's notifications reach this
process's listeners when it commits (see :class:`~mainspring.db.sqlite.SqliteDatabase`);
commits by *other* processes are noticed through ``PRAGMA data_version`` — a counter that
changes whenever another connection commits, read from shared memory without touching the
disk — checked every :data:`POLL_S` while the database is busy and every
:data:`IDLE_POLL_S` once nothing has committed for :data:`BUSY_FOR_S` (an idle server then
costs almost no CPU; the first commit after a quiet spell is noticed within ``IDLE_POLL_S``),
and reported to the callback as ``None`` ("something changed, look again").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable

from .base import Listening, NotificationCallback

__all__ = ["BUSY_FOR_S", "IDLE_POLL_S", "POLL_S", "SqliteListening"]

log = logging.getLogger("mainspring.db")

#: How often other processes' commits are looked for while commits are happening …
POLL_S = 0.01
#: … and once there was none for BUSY_FOR_S.
IDLE_POLL_S = 0.1
BUSY_FOR_S = 2.0


class SqliteListening(Listening):
    """One listener: registered for in-process delivery, plus a ``data_version`` watch."""

    def __init__(
        self,
        listeners: dict[str, list[NotificationCallback]],
        channel: str,
        callback: NotificationCallback,
        connect: Callable[[], sqlite3.Connection],
    ) -> None:
        self._listeners, self._channel, self._callback = listeners, channel, callback
        self._connect = connect
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Register the callback and start watching for other processes' commits."""
        self._listeners.setdefault(self._channel, []).append(self._callback)
        conn = self._connect()
        self._task = asyncio.create_task(self._watch(conn), name=f"watch {self._channel}")

    async def _watch(self, conn: sqlite3.Connection) -> None:
        try:
            (version,) = conn.execute("PRAGMA data_version").fetchone()
            loop = asyncio.get_running_loop()
            last_change = loop.time()
            while True:
                busy = loop.time() - last_change < BUSY_FOR_S
                await asyncio.sleep(POLL_S if busy else IDLE_POLL_S)
                try:
                    (now,) = conn.execute("PRAGMA data_version").fetchone()
                except sqlite3.Error as exc:  # locked for a moment: look again next time
                    log.debug("data_version: %s", exc)
                    continue
                if now != version:
                    version, last_change = now, loop.time()
                    self._callback(None)
        finally:
            conn.close()

    async def close(self) -> None:
        callbacks = self._listeners.get(self._channel, [])
        if self._callback in callbacks:
            callbacks.remove(self._callback)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
