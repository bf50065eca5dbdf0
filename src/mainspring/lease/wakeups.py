"""Wake-ups: "work due at T was just committed", to the engines of every process.

Both halves ride on the commit feed (:mod:`mainspring.feed`): the committing transaction
records the earliest due time in its write set, which the feed hands to this process's
engines after the commit, and sends it as a notification on the kind's topic, which the
feed delivers to the other processes' engines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..db.store import DocumentWriter, WriteSet
from ..feed import CommitFeed

__all__ = ["Announcement", "WakeUps"]

log = logging.getLogger("mainspring.lease")

Announcement = Callable[[float], None]


class WakeUps:
    """Announcements of one kind of work: ``channel`` is its notification channel across
    processes, ``what`` names it in logs."""

    def __init__(self, feed: CommitFeed, channel: str, what: str) -> None:
        self._feed = feed
        self.channel = channel
        self._what = what
        self._listeners: list[Announcement] = []

    def subscribe(self, listener: Announcement) -> Callable[[], None]:
        """Call ``listener(time)`` whenever this process commits work due at ``time``."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def announce(self, when: float) -> None:
        """Work due at ``when`` was committed (called after the commit)."""
        for listener in list(self._listeners):
            try:
                listener(when)
            except Exception:
                log.exception("a %s wake-up listener failed", self._what)

    async def announce_on_commit(self, writer: DocumentWriter, when: float) -> None:
        """Wake engines here and in other processes once ``writer`` commits (work due at
        ``when`` was written): the transaction's write set carries the earliest such time to
        this process's commit feed, and a notification (sent only on commit) to the others.
        """
        due = writer.writes.due
        earliest = due.get(self.channel)
        if earliest is None or when < earliest:
            due[self.channel] = when
            await self._feed.notify(writer, self.channel, repr(when))

    def committed(self, writes: WriteSet) -> None:
        """A commit feed listener: announce the work a commit of this process made due."""
        when = writes.due.get(self.channel)
        if when is not None:
            self.announce(when)
