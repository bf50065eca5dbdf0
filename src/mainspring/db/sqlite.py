"""The embedded default: one SQLite file in WAL mode.

One write transaction at a time (an asyncio lock in-process, ``BEGIN IMMEDIATE`` across
processes) makes mutations serializable, and write transactions that queue share a COMMIT
(:mod:`~mainspring.db.sqlite_writer`); each read transaction holds a WAL snapshot on its own
connection. Statements run on the event loop thread: they take microseconds, and a busy
lock from another process is waited for with ``asyncio.sleep``, never by blocking.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from ..errors import DatabaseError
from .base import (
    LAYOUT_VERSION,
    Database,
    IndexEntry,
    IndexRow,
    Listening,
    NotificationCallback,
    RetryableConflict,
    StoredDocument,
    Transaction,
)
from .sqlite_watch import SqliteListening
from .sqlite_writer import Writer, busy

__all__ = ["SqliteDatabase"]

log = logging.getLogger("mainspring.db")

_MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE TABLE ms_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE ms_tables (number INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
        """CREATE TABLE ms_indexes (id INTEGER PRIMARY KEY, table_number INTEGER NOT NULL,
            name TEXT NOT NULL, fields TEXT NOT NULL, UNIQUE (table_number, name))""",
        """CREATE TABLE ms_documents (id TEXT PRIMARY KEY, table_number INTEGER NOT NULL,
            creation_time REAL NOT NULL, value TEXT NOT NULL) WITHOUT ROWID""",
        """CREATE TABLE ms_index_entries (index_id INTEGER NOT NULL, key BLOB NOT NULL,
            doc_id TEXT NOT NULL, PRIMARY KEY (index_id, key)) WITHOUT ROWID""",
    ],
}

_SCAN = """SELECT e.key, d.id, d.table_number, d.creation_time, d.value
    FROM ms_index_entries e JOIN ms_documents d ON d.id = e.doc_id
    WHERE e.index_id = ? AND e.key >= ? {hi} ORDER BY e.key {order} LIMIT ?"""

_COUNT = """SELECT count(*) FROM (SELECT 1 FROM ms_index_entries
    WHERE index_id = ? AND key >= ? {hi} LIMIT ?)"""


class _SqliteTransaction(Transaction):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.notifications: list[tuple[str, str]] = []

    async def notify(self, channel: str, payload: str) -> None:
        # Delivered to this process's listeners after the commit; other processes notice the
        # commit itself (see sqlite_watch).
        self.notifications.append((channel, payload))

    def _run(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            if busy(exc):
                raise RetryableConflict(f"database is locked: {exc}") from exc
            raise DatabaseError(f"sqlite: {exc}") from exc
        except sqlite3.Error as exc:
            raise DatabaseError(f"sqlite: {exc}") from exc

    async def tables(self) -> dict[str, int]:
        return {name: number for number, name in self._run("SELECT number, name FROM ms_tables")}

    async def create_table(self, name: str, number: int) -> None:
        self._run("INSERT INTO ms_tables (number, name) VALUES (?, ?)", (number, name))

    async def indexes(self) -> list[IndexRow]:
        rows = self._run("SELECT id, table_number, name, fields FROM ms_indexes ORDER BY id")
        return [IndexRow(i, t, n, tuple(json.loads(f))) for i, t, n, f in rows]

    async def create_index(self, index: IndexRow) -> None:
        self._run(
            "INSERT INTO ms_indexes (id, table_number, name, fields) VALUES (?, ?, ?, ?)",
            (index.id, index.table_number, index.name, json.dumps(list(index.fields))),
        )

    async def drop_index(self, index_id: int) -> None:
        self._run("DELETE FROM ms_index_entries WHERE index_id = ?", (index_id,))
        self._run("DELETE FROM ms_indexes WHERE id = ?", (index_id,))

    async def get(self, doc_id: str) -> StoredDocument | None:
        row = self._run(
            "SELECT id, table_number, creation_time, value FROM ms_documents WHERE id = ?",
            (doc_id,),
        ).fetchone()
        return StoredDocument(*row) if row else None

    async def scan(
        self, index_id: int, lo: bytes, hi: bytes | None, descending: bool, limit: int
    ) -> list[tuple[bytes, StoredDocument]]:
        sql = _SCAN.format(
            hi="AND e.key < ?" if hi is not None else "", order="DESC" if descending else "ASC"
        )
        params: list[object] = [index_id, lo]
        if hi is not None:
            params.append(hi)
        params.append(limit)
        return [(k, StoredDocument(i, t, c, v)) for k, i, t, c, v in self._run(sql, params)]

    async def count(self, index_id: int, lo: bytes, hi: bytes | None, limit: int) -> int:
        sql = _COUNT.format(hi="AND key < ?" if hi is not None else "")
        params: list[object] = [index_id, lo, *([hi] if hi is not None else []), limit]
        row = self._run(sql, params).fetchone()
        return int(row[0]) if row else 0

    async def insert(self, document: StoredDocument, entries: Sequence[IndexEntry]) -> None:
        self._run(
            "INSERT INTO ms_documents (id, table_number, creation_time, value) VALUES (?,?,?,?)",
            (document.id, document.table_number, document.creation_time, document.value),
        )
        self._add(document.id, entries)

    def _add(self, doc_id: str, entries: Sequence[IndexEntry]) -> None:
        try:
            self.conn.executemany(
                "INSERT INTO ms_index_entries (index_id, key, doc_id) VALUES (?, ?, ?)",
                [(i, k, doc_id) for i, k in entries],
            )
        except sqlite3.Error as exc:
            raise DatabaseError(f"sqlite: {exc}") from exc

    def _remove(self, entries: Sequence[IndexEntry]) -> None:
        try:
            self.conn.executemany(
                "DELETE FROM ms_index_entries WHERE index_id = ? AND key = ?", list(entries)
            )
        except sqlite3.Error as exc:
            raise DatabaseError(f"sqlite: {exc}") from exc

    async def update(
        self, doc_id: str, value: str, remove: Sequence[IndexEntry], add: Sequence[IndexEntry]
    ) -> None:
        self._run("UPDATE ms_documents SET value = ? WHERE id = ?", (value, doc_id))
        self._remove(remove)
        self._add(doc_id, add)

    async def delete(self, doc_id: str, entries: Sequence[IndexEntry]) -> None:
        self._run("DELETE FROM ms_documents WHERE id = ?", (doc_id,))
        self._remove(entries)

    async def get_meta(self, key: str) -> str | None:
        row = self._run("SELECT value FROM ms_meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    async def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self._run("DELETE FROM ms_meta WHERE key = ?", (key,))
        else:
            self._run(
                "INSERT INTO ms_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


class SqliteDatabase(Database):
    """A SQLite file (``path``) in WAL mode; ``synchronous`` is ``"full"`` or ``"normal"``."""

    dialect = "sqlite"
    serializable_claims = True

    def __init__(self, path: str | Path, *, synchronous: str = "full", readers: int = 8) -> None:
        self.path = Path(path)
        if synchronous.lower() not in ("full", "normal"):
            raise DatabaseError(
                f"sqlite synchronous must be 'full' or 'normal', not {synchronous!r}"
            )
        self.synchronous = synchronous.upper()
        self._max_readers = readers
        self._writes: Writer | None = None
        self._readers: list[sqlite3.Connection] = []
        self._reader_count = 0
        self._reader_available = asyncio.Condition()
        self._listeners: dict[str, list[NotificationCallback]] = {}

    def __repr__(self) -> str:
        return f"SqliteDatabase({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
            # These pragmas read the schema, which is briefly locked while another process
            # creates the file or switches it to WAL: wait for that, then never block again.
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute("PRAGMA busy_timeout = 0")
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open SQLite database {str(self.path)!r}: {exc}") from exc
        return conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = self._connect()
        await self._enable_wal(writer)
        self._writes = Writer(writer, fsync=self.synchronous == "FULL", deliver=self._deliver)
        async with self.transaction(write=True) as tx:
            assert isinstance(tx, _SqliteTransaction)
            self._migrate(tx.conn)

    async def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Outside any transaction: SQLite refuses to change the journal mode inside one.
        delay = 0.001
        for _ in range(2000):
            try:
                (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            except sqlite3.OperationalError as exc:
                if not busy(exc):
                    raise DatabaseError(f"sqlite: {exc}") from exc
                await asyncio.sleep(delay)  # another process is switching it too
                delay = min(delay * 2, 0.05)
                continue
            if str(mode).lower() != "wal":
                raise DatabaseError(f"cannot put {str(self.path)!r} in WAL mode (it is {mode})")
            return
        raise DatabaseError(f"{str(self.path)!r} stayed locked while enabling WAL mode")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ms_meta'"
        ).fetchone()
        version = 0
        if exists:
            row = conn.execute("SELECT value FROM ms_meta WHERE key = 'layout_version'").fetchone()
            version = int(row[0]) if row else 0
        if version > LAYOUT_VERSION:
            raise DatabaseError(
                f"{self.path} was written by a newer Mainspring (layout {version}, "
                f"this one knows {LAYOUT_VERSION}); upgrade Mainspring"
            )
        for step in range(version + 1, LAYOUT_VERSION + 1):
            for sql in _MIGRATIONS[step]:
                conn.execute(sql)
            conn.execute(
                "INSERT INTO ms_meta (key, value) VALUES ('layout_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(step),),
            )

    async def close(self) -> None:
        for conn in self._readers:
            conn.close()
        self._readers.clear()
        if self._writes is not None:
            await self._writes.wait_idle()
            self._writes.conn.close()
            self._writes = None

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[Transaction]:
        async with self._reader_available:
            while not self._readers and self._reader_count >= self._max_readers:
                await self._reader_available.wait()
            if self._readers:
                conn = self._readers.pop()
            else:
                conn = self._connect()
                conn.execute("PRAGMA query_only = ON")  # the contract: reads may not write
                self._reader_count += 1
        try:
            conn.execute("BEGIN")
            try:
                yield _SqliteTransaction(conn)
            finally:
                conn.execute("COMMIT")
        finally:
            async with self._reader_available:
                self._readers.append(conn)
                self._reader_available.notify()

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[Transaction]:
        if self._writes is None:
            raise DatabaseError("the database is not open")
        tx = _SqliteTransaction(self._writes.conn)
        async with self._writes.transaction(tx.notifications):
            yield tx

    def _deliver(self, notifications: list[tuple[str, str]]) -> None:
        for channel, payload in notifications:
            for callback in list(self._listeners.get(channel, ())):
                try:
                    callback(payload)
                except Exception:
                    log.exception("a listener of %r failed", channel)

    async def listen(self, channel: str, callback: NotificationCallback) -> Listening:
        listening = SqliteListening(self._listeners, channel, callback, self._connect)
        await listening.start()
        return listening

    def transaction(self, *, write: bool) -> contextlib.AbstractAsyncContextManager[Transaction]:
        return self._write() if write else self._read()

    async def explain_scan(self, index_id: int, lo: bytes, hi: bytes | None) -> str:
        sql = _SCAN.format(hi="AND e.key < ?" if hi is not None else "", order="ASC")
        params: list[object] = [index_id, lo] + ([hi] if hi is not None else []) + [10]
        assert self._writes is not None
        rows = self._writes.conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        return "\n".join(str(r[-1]) for r in rows)
