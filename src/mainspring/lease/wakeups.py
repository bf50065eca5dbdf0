"""In-process wake-ups: "work due at T was just committed", to the engines of this process.

Engines in other processes hear the same news through the database's notifications
(``LISTEN/NOTIFY`` on PostgreSQL), sent by the committing transaction itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..db.store import DocumentWriter

__all__ = ["Announcement", "WakeUps"]

log = logging.getLogger("mainspring.lease")

Announcement = Callable[[float], None]


class WakeUps:
    """Announcements of one kind of work: ``channel`` is its notification channel across
    processes, ``what`` names it in logs."""

    def __init__(self, channel: str, what: str) -> None:
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
        """Wake engines here and in other processes once ``writer`` commits."""
        await writer.notify(self.channel, repr(when))
        writer.writes.after_commit.append(lambda: self.announce(when))
