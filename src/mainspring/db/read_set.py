"""What a query run read: the index ranges, documents and tables behind its result.

A live query is re-run only when a commit touches its read set. Recording is opt-in and
follows the running task through a context variable, so nested calls (``ctx.run_query``)
add to the same set and ordinary calls pay nothing::

    reads = ReadSet()
    with recording(reads):
        await runtime.run("files:list", {}, kind="query")
    reads.ranges   # [(index id, lo, hi), ...]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["ReadSet", "current_read_set", "recording"]


@dataclass
class ReadSet:
    """Index ranges ``[lo, hi)`` scanned, ids fetched, and tables looked at."""

    ranges: list[tuple[int, bytes, bytes | None]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    #: Every table the run looked at, by name (coarse matching).
    tables: set[str] = field(default_factory=set)
    #: Tables that did not exist yet: their first insert must count as a change.
    missing_tables: set[str] = field(default_factory=set)


_current: ContextVar[ReadSet | None] = ContextVar("mainspring_read_set", default=None)


def current_read_set() -> ReadSet | None:
    """The read set being recorded by the running task, if any."""
    return _current.get()


@contextlib.contextmanager
def recording(reads: ReadSet) -> Iterator[ReadSet]:
    """Record every read made in this block (and in tasks it awaits) into ``reads``."""
    token = _current.set(reads)
    try:
        yield reads
    finally:
        _current.reset(token)
