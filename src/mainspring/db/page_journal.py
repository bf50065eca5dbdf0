"""Query journals: how a live paginated query keeps its page boundaries fixed.

A page of ``usePaginatedQuery`` is an ordinary query subscription. Its first run takes
``numItems`` items and ends somewhere; every later run of that subscription must end at the
same position, or an insert into page 1 would push an item out of page 1 that page 2 (which
starts at page 1's old ``continueCursor``) never picks up. Convex keeps that end position as
the subscription's *journal*: an opaque string the server stores per live query, returns to
the client with each result and receives back from it after a reconnect.

The sync layer runs each query inside :func:`journal_scope`::

    with journal_scope(saved_journal) as scope:
        value = await runtime.call(path, args)
    saved_journal = scope.journal_out

and :meth:`mainspring.db.query.Query.paginate` does the rest: the first ``paginate()`` of the
run reads to ``journal_in`` (when given) instead of taking ``numItems`` items, and records the
end of the page it returned as ``journal_out``. A journal is a pagination cursor (the page's
``continueCursor``), so a malformed one, or one made for another index or order, fails with
an ``InvalidCursor`` error, which makes the React hook start its pages again.

The scope lives in a :class:`~contextvars.ContextVar`: it follows the query through every
``await`` and into tasks it starts, and is gone once the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["JournalScope", "current_journal_scope", "journal_scope"]


@dataclass
class JournalScope:
    """The journal a live query run starts from, and the one its paginate() leaves."""

    #: The journal of the previous run (None: the first run, or no paginate() ran before).
    journal_in: str | None
    #: Set by the first paginate() of the run; None if none ran (or it failed).
    journal_out: str | None = None
    #: True once a paginate() has taken this scope: later ones in the run ignore the journal.
    claimed: bool = field(default=False, init=False)

    def claim(self) -> bool:
        """Take the scope for the calling paginate(); True only for the first caller."""
        first, self.claimed = not self.claimed, True
        return first


_current: ContextVar[JournalScope | None] = ContextVar("mainspring_journal_scope", default=None)


@contextlib.contextmanager
def journal_scope(journal_in: str | None) -> Iterator[JournalScope]:
    """Within this block (a contextvar, so it follows the awaiting task), paginate() reads
    ``journal_in`` and records ``journal_out`` on the yielded scope."""
    scope = JournalScope(journal_in)
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def current_journal_scope() -> JournalScope | None:
    """The innermost active :func:`journal_scope`, or None outside of any."""
    return _current.get()
