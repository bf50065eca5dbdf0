"""The database backend interface: a thin connector under the document layer.

A backend stores three things and knows nothing of schemas or Convex semantics:

* the catalog: table names ↔ numbers, and index definitions;
* documents: ``(id, table_number, creation_time, value)`` where ``value`` is the JSON text of
  the user fields in Convex's encoding;
* index entries: ``(index_id, key) → doc_id`` where ``key`` is a byte string made by
  :mod:`mainspring.db.keys`; scans are byte-ordered range scans of a real SQL index.

Contract (every backend passes ``tests/contract/test_database.py``):

* ``transaction(write=False)`` sees one consistent snapshot for its whole life and may not
  write. ``transaction(write=True)`` is serializable with every other write transaction; it
  commits when the ``async with`` block exits normally and rolls back when it raises.
* A write transaction that cannot be serialized raises :class:`RetryableConflict` (from any
  call, or from the commit at block exit); nothing of it is visible afterwards. The caller
  retries the whole transaction.
* ``scan`` returns entries with ``lo <= key < hi`` (``hi=None``: no upper bound), in key
  order (or reverse order when ``descending``), at most ``limit`` of them, joined to their
  documents.
* Driver errors never escape: they become :class:`~mainspring.errors.DatabaseError`.
* ``open`` creates or migrates the stored layout to :data:`LAYOUT_VERSION` and is safe to
  run from several processes at once; a database written by a newer layout is refused.

Two small additions serve the scheduler (and any later work queue):

* **Claims.** ``claim_transaction()`` is a write transaction in which ``Transaction.claim``
  returns index entries like an ascending ``scan``, except that entries another transaction
  holds are skipped and the ones returned are held until this transaction ends. On PostgreSQL
  that is ``FOR UPDATE SKIP LOCKED`` at READ COMMITTED, so concurrent claimers never wait for
  or conflict with each other; such a transaction is *not* serializable, so it may only write
  documents whose claimed index entry guarantees their state (every change of that state moves
  the entry). A single-writer backend (SQLite) needs neither: both fall back to ``scan`` in an
  ordinary write transaction.
* **Notifications.** ``Transaction.notify(channel, payload)`` delivers ``payload`` to every
  ``Database.listen(channel, callback)`` callback — in every process that shares the database
  (PostgreSQL ``NOTIFY``) or in this process (SQLite) — when, and only if, the transaction
  commits. Delivery is best effort (a listener that reconnects may miss some; it is then
  called with ``None``): use it to wake pollers early, never as the only signal.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from ..errors import DatabaseError

__all__ = [
    "LAYOUT_VERSION",
    "Database",
    "IndexEntry",
    "IndexRow",
    "Listening",
    "NotificationCallback",
    "RetryableConflict",
    "StoredDocument",
    "Transaction",
]

LAYOUT_VERSION = 1

IndexEntry = tuple[int, bytes]
#: Called with a notification's payload, or with None when some may have been missed.
NotificationCallback = Callable[[str | None], None]


class RetryableConflict(DatabaseError):
    """A write transaction lost a race (serialization failure, lock busy); retry it whole."""


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document as stored: system fields in columns, user fields as JSON text."""

    id: str
    table_number: int
    creation_time: float
    value: str


@dataclass(frozen=True, slots=True)
class IndexRow:
    """An index definition in the catalog. ``fields`` is empty for ``by_creation_time``."""

    id: int
    table_number: int
    name: str
    fields: tuple[str, ...]


class Transaction(ABC):
    """One transaction on a backend; see the module docstring for the contract."""

    @abstractmethod
    async def tables(self) -> dict[str, int]:
        """Every table name and its number."""

    @abstractmethod
    async def create_table(self, name: str, number: int) -> None:
        """Add a table to the catalog."""

    @abstractmethod
    async def indexes(self) -> list[IndexRow]:
        """Every index definition."""

    @abstractmethod
    async def create_index(self, index: IndexRow) -> None:
        """Add an index definition (entries are written by the caller)."""

    @abstractmethod
    async def drop_index(self, index_id: int) -> None:
        """Remove an index definition and all of its entries."""

    @abstractmethod
    async def get(self, doc_id: str) -> StoredDocument | None:
        """The document with this id, or None."""

    async def get_many(self, doc_ids: Sequence[str]) -> dict[str, StoredDocument]:
        """The documents with these ids that exist (one round trip where it matters)."""
        found = {}
        for doc_id in doc_ids:
            stored = await self.get(doc_id)
            if stored is not None:
                found[doc_id] = stored
        return found

    @abstractmethod
    async def scan(
        self, index_id: int, lo: bytes, hi: bytes | None, descending: bool, limit: int
    ) -> list[tuple[bytes, StoredDocument]]:
        """Index entries in ``[lo, hi)`` joined to their documents, in order."""

    @abstractmethod
    async def insert(self, document: StoredDocument, entries: Sequence[IndexEntry]) -> None:
        """Store a new document and its index entries."""

    @abstractmethod
    async def update(
        self,
        doc_id: str,
        value: str,
        remove: Sequence[IndexEntry],
        add: Sequence[IndexEntry],
    ) -> None:
        """Replace a document's value and swap the index entries that changed."""

    @abstractmethod
    async def delete(self, doc_id: str, entries: Sequence[IndexEntry]) -> None:
        """Remove a document and its index entries."""

    @abstractmethod
    async def get_meta(self, key: str) -> str | None:
        """A deployment-wide setting."""

    @abstractmethod
    async def set_meta(self, key: str, value: str | None) -> None:
        """Set (or with None remove) a deployment-wide setting."""

    async def claim(
        self, index_id: int, lo: bytes, hi: bytes | None, limit: int
    ) -> list[tuple[bytes, StoredDocument]]:
        """Like an ascending ``scan``, skipping entries other transactions hold and holding
        the ones returned (in a ``claim_transaction``; see the module docstring)."""
        return await self.scan(index_id, lo, hi, False, limit)

    async def count(self, index_id: int, lo: bytes, hi: bytes | None, limit: int) -> int:
        """How many entries an ascending ``scan`` would return (at most ``limit``)."""
        return len(await self.scan(index_id, lo, hi, False, limit))

    async def notify(self, channel: str, payload: str) -> None:
        """Send ``payload`` to ``channel``'s listeners if this transaction commits."""
        raise NotImplementedError(f"{type(self).__name__} cannot send notifications")


class Listening(ABC):
    """A subscription made by :meth:`Database.listen`."""

    @abstractmethod
    async def close(self) -> None:
        """Stop listening (idempotent)."""


class Database(ABC):
    """A storage backend; see the module docstring for the contract."""

    #: "sqlite" or "postgres"
    dialect: str
    #: True when a claim transaction is an ordinary serializable write transaction (a
    #: single-writer backend): then work may be claimed and done in the same transaction.
    serializable_claims: bool = False

    @abstractmethod
    async def open(self) -> None:
        """Connect and bring the stored layout up to date."""

    @abstractmethod
    async def close(self) -> None:
        """Release every connection."""

    @abstractmethod
    def transaction(self, *, write: bool) -> AbstractAsyncContextManager[Transaction]:
        """A read-only snapshot (``write=False``) or a serializable write transaction."""

    @abstractmethod
    async def explain_scan(self, index_id: int, lo: bytes, hi: bytes | None) -> str:
        """The backend's query plan for a scan (tests check an index is used)."""

    def claim_transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A write transaction for ``Transaction.claim`` (see the module docstring)."""
        return self.transaction(write=True)

    @abstractmethod
    async def listen(self, channel: str, callback: NotificationCallback) -> Listening:
        """Call ``callback(payload)`` for each notification committed on ``channel``."""
