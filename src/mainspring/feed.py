"""The commit feed: every commit of a deployment, to whatever follows it.

**In this process** each commit that wrote something is published right after it commits
(:meth:`CommitFeed.publish`, called by the runtime's ``transact``) to every subscriber: the
lease engines' wake-ups (a commit that made work due says when, in ``WriteSet.due``) and the
live queries (which re-run what the write set touched).

**Between processes** a transaction tells the others on one notification channel,
multiplexed by topic: :meth:`CommitFeed.notify` sends ``topic:payload`` in the transaction,
so it is delivered only if that commits; :meth:`CommitFeed.listen` hands each topic's
payloads to its callbacks, and ``None`` to every callback whenever something may have been
missed (a lost ``LISTEN`` connection; on SQLite, any commit of another process, seen only
as a change of the file). Each process holds one listening connection, whatever the number
of topics (the scheduler's, the work pools', live queries' commits and presence).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .db.base import Database, Listening, NotificationCallback, Transaction
from .db.store import DocumentWriter, WriteSet

__all__ = ["CHANNEL", "CommitFeed", "CommitListener"]

log = logging.getLogger("mainspring.feed")

#: The one notification channel of a deployment.
CHANNEL = "commits"
_SEPARATOR = ":"

#: Called with the write set of every committed transaction that wrote something.
CommitListener = Callable[[WriteSet], None]


class _TopicListening(Listening):
    def __init__(self, feed: CommitFeed, topic: str, callback: NotificationCallback) -> None:
        self._feed, self._topic, self._callback = feed, topic, callback
        self._closed = False

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._feed._unlisten(self._topic, self._callback)


class CommitFeed:
    """The commit feed of one deployment in this process."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._subscribers: list[CommitListener] = []
        self._callbacks: dict[str, list[NotificationCallback]] = {}
        self._listening: Listening | None = None
        self._opening = asyncio.Lock()

    # -- in this process ----------------------------------------------------------------------

    def subscribe(self, listener: CommitListener) -> Callable[[], None]:
        """Call ``listener(write_set)`` after every commit of this process that wrote
        something; returns a function that unsubscribes it."""
        self._subscribers.append(listener)
        return lambda: self._subscribers.remove(listener) if listener in self._subscribers else None

    def publish(self, writes: WriteSet) -> None:
        """A commit of this process wrote ``writes``: tell every subscriber (one that
        raises is logged; the others still hear of it)."""
        for listener in list(self._subscribers):
            try:
                listener(writes)
            except Exception:
                log.exception("a commit feed subscriber failed")

    # -- between processes --------------------------------------------------------------------

    async def notify(self, tx: DocumentWriter | Transaction, topic: str, payload: str) -> None:
        """Send ``payload`` to ``topic``'s listeners in every process if ``tx`` commits."""
        await tx.notify(CHANNEL, f"{topic}{_SEPARATOR}{payload}")

    async def notify_now(self, topic: str, payload: str) -> None:
        """Send ``payload`` to ``topic``'s listeners now, in a transaction of its own."""
        async with self._database.transaction(write=True) as tx:
            await self.notify(tx, topic, payload)

    async def listen(self, topic: str, callback: NotificationCallback) -> Listening:
        """Call ``callback(payload)`` for each notification on ``topic`` (and ``None`` when
        some may have been missed) until the returned listening is closed."""
        self._callbacks.setdefault(topic, []).append(callback)
        async with self._opening:
            if self._listening is None:
                try:
                    self._listening = await self._database.listen(CHANNEL, self._dispatch)
                except BaseException:
                    self._callbacks[topic].remove(callback)
                    raise
        return _TopicListening(self, topic, callback)

    async def _unlisten(self, topic: str, callback: NotificationCallback) -> None:
        callbacks = self._callbacks.get(topic, [])
        if callback in callbacks:
            callbacks.remove(callback)
        if not any(self._callbacks.values()) and self._listening is not None:
            listening, self._listening = self._listening, None
            await listening.close()

    def _dispatch(self, payload: str | None) -> None:
        if payload is None:
            targets = [c for callbacks in self._callbacks.values() for c in callbacks]
            message: str | None = None
        else:
            topic, _, message = payload.partition(_SEPARATOR)
            targets = list(self._callbacks.get(topic, ()))
        for callback in targets:
            try:
                callback(message)
            except Exception:
                log.exception("a commit feed listener failed")
