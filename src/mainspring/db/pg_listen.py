"""PostgreSQL ``LISTEN``: one dedicated connection per subscription, reconnecting on loss.

``NOTIFY`` is sent inside a transaction (``SELECT pg_notify(…)``) and delivered by the server
when that transaction commits, to every session listening on the channel — in this process
and in every other one. Channels are per database, so :class:`PostgresDatabase` prefixes them
with its schema: deployments sharing a database do not hear each other.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from psycopg import sql

from ..backoff import Backoff
from ..errors import DatabaseError
from .base import Listening, NotificationCallback

__all__ = ["PgListening", "channel_name"]

log = logging.getLogger("mainspring.db")

#: Between attempts to listen again after the connection was lost (seconds).
_RETRY = Backoff(0.1, 3.0, 5.0, jitter=False)
_CLOSE_TIMEOUT_S = 5.0


def channel_name(schema: str | None, channel: str) -> str:
    """The server-side channel: ``ms_<schema>_<channel>``, at most 63 characters."""
    return f"ms_{schema or 'public'}_{channel}"[:63]


class PgListening(Listening):
    """Listens on ``channel`` with its own autocommit connection until closed."""

    def __init__(
        self, conninfo: str, kwargs: dict[str, Any], channel: str, callback: NotificationCallback
    ) -> None:
        self._conninfo = conninfo
        self._kwargs = kwargs
        self._channel = channel
        self._callback = callback
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and ``LISTEN``: notifications committed from now on reach the callback."""
        try:
            conn = await self._connect()
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot listen on {self._channel}: {exc}") from exc
        self._task = asyncio.create_task(self._run(conn), name=f"listen {self._channel}")

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo, **{**self._kwargs, "autocommit": True}
        )
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _run(self, conn: psycopg.AsyncConnection[Any] | None) -> None:
        failures = 0
        while True:
            if conn is not None:
                try:
                    async with conn:
                        async for notification in conn.notifies():
                            self._callback(notification.payload)
                except psycopg.Error as exc:
                    log.warning("lost the connection listening on %s: %s", self._channel, exc)
                conn = None
            failures += 1
            await _RETRY.sleep(failures)
            try:
                conn = await self._connect()
            except psycopg.Error as exc:
                log.warning("cannot listen on %s yet: %s", self._channel, exc)
                continue
            failures = 0
            self._callback(None)  # some may have been sent while we were away

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Bounded: closing a connection whose notifies() generator is suspended can
            # wait on the connection's lock; shutdown must go on regardless.
            done, _ = await asyncio.wait([task], timeout=_CLOSE_TIMEOUT_S)
            if not done:
                log.warning("listening on %s did not stop in time; left behind", self._channel)
            elif not task.cancelled() and task.exception() is not None:
                log.debug("listening on %s ended with %r", self._channel, task.exception())
