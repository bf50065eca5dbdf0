"""PostgreSQL: many processes on one database, serializable through SSI.

Write transactions run at SERIALIZABLE and read transactions at REPEATABLE READ, READ ONLY
(one snapshot); PostgreSQL's serialization failures become :class:`RetryableConflict` and the
runtime retries the mutation. Transactions run in psycopg's pipeline mode: statements whose
results nobody reads (BEGIN, writes, COMMIT) are queued, not waited for, so a read-modify-write
mutation costs two or three round trips; statements are prepared on the server.

Nothing is sent before a transaction's first read: writes wait. A write transaction that
never read and wrote one statement (a mutation that only inserts one document) sends just
that statement, outside pipeline mode; it is a transaction of its own, and serializable,
since the pool's connections default to SERIALIZABLE (every explicit BEGIN names its level).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

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
from .pg_listen import PgListening, channel_name

__all__ = ["PostgresDatabase"]

# Each step is one script (no parameters: psycopg sends it whole) that records its version.
# Ids are only compared for equality: the "C" collation skips locale-aware comparisons.
# fillfactor leaves room on each page so that value updates stay HOT updates.
_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE ms_meta (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE ms_tables (number integer PRIMARY KEY, name text NOT NULL UNIQUE);
    CREATE TABLE ms_indexes (id integer PRIMARY KEY, table_number integer NOT NULL,
        name text NOT NULL, fields text NOT NULL, UNIQUE (table_number, name));
    CREATE TABLE ms_documents (id text COLLATE "C" PRIMARY KEY, table_number integer NOT NULL,
        creation_time double precision NOT NULL, value text NOT NULL) WITH (fillfactor = 90);
    CREATE TABLE ms_index_entries (index_id integer NOT NULL, key bytea NOT NULL,
        doc_id text COLLATE "C" NOT NULL, PRIMARY KEY (index_id, key));
    INSERT INTO ms_meta (key, value) VALUES ('layout_version', '1');
    """,
}

_SCAN = """SELECT e.key, d.id, d.table_number, d.creation_time, d.value
    FROM ms_index_entries e JOIN ms_documents d ON d.id = e.doc_id
    WHERE e.index_id = %s AND e.key >= %s {hi} ORDER BY e.key {order} LIMIT %s"""
_BEGIN_WRITE = "BEGIN ISOLATION LEVEL SERIALIZABLE"
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
# Claims lock rows with SKIP LOCKED, which needs READ COMMITTED to neither wait nor conflict.
_BEGIN_CLAIM = "BEGIN ISOLATION LEVEL READ COMMITTED"
# Writes held before the first read: past this many they go (a loop of inserts is not kept).
_HOLD_AT_MOST = 32
_CLAIM = """SELECT e.key, d.id, d.table_number, d.creation_time, d.value
    FROM ms_index_entries e JOIN ms_documents d ON d.id = e.doc_id
    WHERE e.index_id = %s AND e.key >= %s {hi} ORDER BY e.key LIMIT %s
    FOR UPDATE OF e SKIP LOCKED"""
_COUNT = """SELECT count(*) FROM (SELECT 1 FROM ms_index_entries
    WHERE index_id = %s AND key >= %s {hi} LIMIT %s) AS entries"""
_CONFLICTS = ("40001", "40P01")  # serialization_failure, deadlock_detected
_OPEN = (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR)
# autocommit: we send BEGIN ourselves, with its isolation level, in the pipeline; statements
# are prepared explicitly (prepare=True), so psycopg need not count executions.
_CONNECT = {"autocommit": True, "prepare_threshold": None, "connect_timeout": 10}
_OUR_PARAMS = ("schema", "pool_min_size", "pool_max_size")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    """A new pool connection: a statement outside BEGIN runs as a SERIALIZABLE transaction
    (see the module docstring). Set once per connection, not in the startup packet, which
    poolers such as PgBouncer may refuse to pass on."""
    await conn.execute("SET default_transaction_isolation = 'serializable'")


def _translate(exc: psycopg.Error) -> DatabaseError:
    """The Mainspring error for a driver error (the caller raises it ``from exc``)."""
    if exc.sqlstate in _CONFLICTS:
        return RetryableConflict(f"postgres: {exc}")
    # Two processes creating the same table or index: the loser retries and finds it made.
    if exc.sqlstate == "23505" and exc.diag.table_name in ("ms_tables", "ms_indexes"):
        return RetryableConflict(f"postgres: concurrent catalog change: {exc}")
    return DatabaseError(f"postgres: {exc}")


@functools.cache
def _write_sql(document: str, removed: int, added: int) -> str:
    """One statement: ``document`` (a statement on ms_documents), deleting ``removed`` index
    entries and inserting ``added`` ones. Shapes are few (entries per write are at most the
    table's index count), and each is prepared once per connection."""
    parts = [document]
    if removed:
        match = " OR ".join(["(index_id = %s AND key = %s)"] * removed)
        parts.append(f"DELETE FROM ms_index_entries WHERE {match}")
    if added:
        rows = ", ".join(["(%s, %s, %s)"] * added)
        parts.append(f"INSERT INTO ms_index_entries (index_id, key, doc_id) VALUES {rows}")
    if len(parts) == 1:
        return document
    ctes = ", ".join(f"w{n} AS ({part})" for n, part in enumerate(parts[:-1]))
    return f"WITH {ctes} {parts[-1]}"


_INSERT_DOC = (
    "INSERT INTO ms_documents (id, table_number, creation_time, value) VALUES (%s, %s, %s, %s)"
)
_UPDATE_DOC = "UPDATE ms_documents SET value = %s WHERE id = %s"
_DELETE_DOC = "DELETE FROM ms_documents WHERE id = %s"


def _keys(entries: Sequence[IndexEntry]) -> list[Any]:
    return [part for entry in entries for part in entry]


def _rows(doc_id: str, entries: Sequence[IndexEntry]) -> list[Any]:
    return [part for index_id, key in entries for part in (index_id, key, doc_id)]


class _PgTransaction(Transaction):
    def __init__(
        self,
        conn: psycopg.AsyncConnection[Any],
        schema: str | None,
        begin: str,
        stack: contextlib.AsyncExitStack,
    ) -> None:
        self.conn = conn
        self.schema = schema
        # The first error poisons the transaction: a conflict user code swallowed still fails.
        self.failed: DatabaseError | None = None
        self._begin = begin
        self._stack = stack
        self._pipeline: psycopg.AsyncPipeline | None = None  # None: nothing sent yet
        self._held: list[tuple[str, Sequence[Any]]] = []  # writes made before any read

    async def _run(self, query: str, params: Sequence[Any] = (), fetch: bool = False) -> list[Any]:
        if self._pipeline is None:
            if not fetch and len(self._held) < _HOLD_AT_MOST:
                self._held.append((query, params))
                return []
            await self._open()
        return await self._send(query, params, fetch)

    async def _open(self) -> None:
        """Enter pipeline mode and queue BEGIN, then the held writes."""
        self._pipeline = await self._stack.enter_async_context(self.conn.pipeline())
        await self.conn.execute(self._begin, prepare=False)
        held, self._held = self._held, []
        for query, params in held:
            await self._send(query, params)

    async def _send(self, query: str, params: Sequence[Any] = (), fetch: bool = False) -> list[Any]:
        try:
            cursor = await self.conn.execute(query, params, prepare=True)
            # In pipeline mode a queued statement's error surfaces at the next fetch.
            return await cursor.fetchall() if fetch else []
        except psycopg.Error as exc:
            self.failed = self.failed or _translate(exc)
            raise self.failed from exc

    async def commit(self) -> None:
        """Send what is held and COMMIT (see the module docstring for the one-statement case)."""
        if self._pipeline is None:
            if not self._held:
                return  # nothing was read or written: nothing to send
            if len(self._held) == 1 and self._begin == _BEGIN_WRITE:
                await self._send(*self._held[0])  # autocommit, at the default SERIALIZABLE
                return
            await self._open()
        assert self._pipeline is not None
        await self.conn.execute("COMMIT", prepare=False)
        await self._pipeline.sync()  # the COMMIT's outcome, and errors nobody fetched

    async def abandon(self) -> None:
        """After a failure: drain what it aborted (psycopg would log each) and roll back, so
        the pool gets an idle connection."""
        if self._pipeline is None:
            return  # nothing was sent, or one autocommit statement that failed whole
        with contextlib.suppress(psycopg.Error):
            await self._pipeline.sync()
        if self.conn.info.transaction_status in _OPEN:
            with contextlib.suppress(psycopg.Error):
                await self.conn.execute("ROLLBACK", prepare=False)
                await self._pipeline.sync()

    async def _fetch(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._run(query, params, fetch=True)

    async def tables(self) -> dict[str, int]:
        return {name: n for n, name in await self._fetch("SELECT number, name FROM ms_tables")}

    async def create_table(self, name: str, number: int) -> None:
        await self._run("INSERT INTO ms_tables (number, name) VALUES (%s, %s)", (number, name))

    async def indexes(self) -> list[IndexRow]:
        rows = await self._fetch(
            "SELECT id, table_number, name, fields FROM ms_indexes ORDER BY id"
        )
        return [IndexRow(i, t, n, tuple(json.loads(f))) for i, t, n, f in rows]

    async def create_index(self, index: IndexRow) -> None:
        await self._run(
            "INSERT INTO ms_indexes (id, table_number, name, fields) VALUES (%s, %s, %s, %s)",
            (index.id, index.table_number, index.name, json.dumps(list(index.fields))),
        )

    async def drop_index(self, index_id: int) -> None:
        await self._run("DELETE FROM ms_index_entries WHERE index_id = %s", (index_id,))
        await self._run("DELETE FROM ms_indexes WHERE id = %s", (index_id,))

    async def get(self, doc_id: str) -> StoredDocument | None:
        rows = await self._fetch(
            "SELECT id, table_number, creation_time, value FROM ms_documents WHERE id = %s",
            (doc_id,),
        )
        return StoredDocument(*rows[0]) if rows else None

    async def get_many(self, doc_ids: Sequence[str]) -> dict[str, StoredDocument]:
        rows = await self._fetch(
            "SELECT id, table_number, creation_time, value FROM ms_documents WHERE id = ANY(%s)",
            (list(doc_ids),),
        )
        return {row[0]: StoredDocument(*row) for row in rows}

    async def scan(
        self, index_id: int, lo: bytes, hi: bytes | None, descending: bool, limit: int
    ) -> list[tuple[bytes, StoredDocument]]:
        query, params = _scan_query(index_id, lo, hi, descending, limit)
        rows = await self._fetch(query, params)
        return [(bytes(k), StoredDocument(i, t, c, v)) for k, i, t, c, v in rows]

    # Each write is one statement: the document and its index entries change together in
    # data-modifying CTEs. Per statement, psycopg costs more CPU than PostgreSQL takes to run
    # it, so a state change that touches two indexes is 1 statement instead of 5.

    async def insert(self, document: StoredDocument, entries: Sequence[IndexEntry]) -> None:
        doc = (document.id, document.table_number, document.creation_time, document.value)
        await self._run(
            _write_sql(_INSERT_DOC, 0, len(entries)), [*doc, *_rows(document.id, entries)]
        )

    async def update(
        self, doc_id: str, value: str, remove: Sequence[IndexEntry], add: Sequence[IndexEntry]
    ) -> None:
        # Removed and added keys never coincide (only changed keys are listed), so the
        # sub-statements, which see the same snapshot, cannot trip over each other.
        await self._run(
            _write_sql(_UPDATE_DOC, len(remove), len(add)),
            [value, doc_id, *_keys(remove), *_rows(doc_id, add)],
        )

    async def delete(self, doc_id: str, entries: Sequence[IndexEntry]) -> None:
        await self._run(_write_sql(_DELETE_DOC, len(entries), 0), [doc_id, *_keys(entries)])

    async def claim(
        self, index_id: int, lo: bytes, hi: bytes | None, limit: int
    ) -> list[tuple[bytes, StoredDocument]]:
        query = _CLAIM.format(hi="AND e.key < %s" if hi is not None else "")
        rows = await self._fetch(query, [index_id, lo, *([hi] if hi is not None else []), limit])
        return [(bytes(k), StoredDocument(i, t, c, v)) for k, i, t, c, v in rows]

    async def count(self, index_id: int, lo: bytes, hi: bytes | None, limit: int) -> int:
        # The index alone answers: no documents are read or sent.
        query = _COUNT.format(hi="AND key < %s" if hi is not None else "")
        rows = await self._fetch(query, [index_id, lo, *([hi] if hi is not None else []), limit])
        return int(rows[0][0])

    async def notify(self, channel: str, payload: str) -> None:
        # Queued in the pipeline; the server delivers it when (and if) the COMMIT succeeds.
        await self._run("SELECT pg_notify(%s, %s)", (channel_name(self.schema, channel), payload))

    async def get_meta(self, key: str) -> str | None:
        rows = await self._fetch("SELECT value FROM ms_meta WHERE key = %s", (key,))
        return str(rows[0][0]) if rows else None

    async def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            await self._run("DELETE FROM ms_meta WHERE key = %s", (key,))
            return
        await self._run(
            "INSERT INTO ms_meta (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _scan_query(
    index_id: int, lo: bytes, hi: bytes | None, descending: bool, limit: int
) -> tuple[str, list[Any]]:
    bound, order = ("AND e.key < %s" if hi is not None else ""), ("DESC" if descending else "ASC")
    params = [index_id, lo, *([hi] if hi is not None else []), limit]
    return _SCAN.format(hi=bound, order=order), params


def _url(parts: SplitResult, netloc: str, query: list[tuple[str, str]]) -> str:
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, quote_via=quote)))


class PostgresDatabase(Database):
    """A PostgreSQL database at ``url``.

    ``?schema=name`` in the URL keeps every table in that schema (created on open), so several
    deployments or test runs can share one database. The connection pool holds ``min_size``
    to ``max_size`` connections, or ``?pool_min_size=…&pool_max_size=…`` from the URL.
    """

    dialect = "postgres"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        ours = {k: v for k, v in query if k in _OUR_PARAMS}  # libpq would refuse these
        self.conninfo = _url(parts, parts.netloc, [(k, v) for k, v in query if k not in ours])
        user = f"{parts.username}@" if parts.username else ""
        #: The URL without its password (in the user info or the query), for messages.
        self.display_url = _url(
            parts, user + parts.netloc.rpartition("@")[2], [q for q in query if q[0] != "password"]
        )
        self.schema = ours.get("schema")
        if self.schema is not None and not _SCHEMA_NAME.match(self.schema):
            raise DatabaseError(f"invalid schema name {self.schema!r}: use [a-z_][a-z0-9_]*")
        try:
            self.min_size = int(ours.get("pool_min_size", min_size))
            self.max_size = int(ours.get("pool_max_size", max_size))
        except ValueError as exc:
            raise DatabaseError(f"pool_min_size and pool_max_size must be integers: {exc}") from exc
        self._kwargs: dict[str, Any] = dict(_CONNECT)
        if self.schema is not None:  # in the startup packet: no round trip per connection
            options = f"{dict(query).get('options', '')} -c search_path={self.schema}"
            self._kwargs["options"] = options.strip()
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.display_url!r})"

    async def open(self) -> None:
        try:
            conn = await psycopg.AsyncConnection.connect(self.conninfo, **self._kwargs)
            async with conn, conn.transaction():
                await self._migrate(conn)
        except psycopg.Error as exc:  # unreachable, refused, or the layout could not be made
            raise DatabaseError(f"cannot open PostgreSQL at {self.display_url}: {exc}") from exc
        self._pool = AsyncConnectionPool(
            self.conninfo,
            kwargs=self._kwargs,
            configure=_configure,
            min_size=self.min_size,
            max_size=self.max_size,
            open=False,
        )
        await self._pool.open()

    async def _migrate(self, conn: psycopg.AsyncConnection[Any]) -> None:
        # One process at a time creates or migrates a schema; the others wait, then see it done.
        lock = f"mainspring layout {self.schema or 'public'}"
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
        if self.schema is not None:
            found = await conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", (self.schema,))
            # Not IF NOT EXISTS: that needs the CREATE privilege even when the schema exists.
            if not (await found.fetchone() or (False,))[0]:
                await conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
        cursor = await conn.execute("SELECT to_regclass('ms_meta') IS NOT NULL")
        version = 0
        if (await cursor.fetchone() or (False,))[0]:
            cursor = await conn.execute("SELECT value FROM ms_meta WHERE key = 'layout_version'")
            row = await cursor.fetchone()
            version = int(row[0]) if row else 0
        if version > LAYOUT_VERSION:
            raise DatabaseError(
                f"{self.display_url} was written by a newer Mainspring (layout {version}, "
                f"this one knows {LAYOUT_VERSION}); upgrade Mainspring"
            )
        for step in range(version + 1, LAYOUT_VERSION + 1):
            await conn.execute(_MIGRATIONS[step])

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @contextlib.asynccontextmanager
    async def _transaction(self, begin: str) -> AsyncIterator[Transaction]:
        if self._pool is None:
            raise DatabaseError("the database is not open")
        try:
            async with self._pool.connection() as conn, contextlib.AsyncExitStack() as stack:
                tx = _PgTransaction(conn, self.schema, begin, stack)
                try:
                    yield tx
                    if tx.failed is not None:
                        raise tx.failed
                    await tx.commit()
                except BaseException:
                    await tx.abandon()
                    raise
        except psycopg.Error as exc:  # also the pool's PoolTimeout when the server is gone
            raise _translate(exc) from exc

    def transaction(self, *, write: bool) -> contextlib.AbstractAsyncContextManager[Transaction]:
        return self._transaction(_BEGIN_WRITE if write else _BEGIN_READ)

    def claim_transaction(self) -> contextlib.AbstractAsyncContextManager[Transaction]:
        return self._transaction(_BEGIN_CLAIM)

    async def listen(self, channel: str, callback: NotificationCallback) -> Listening:
        listening = PgListening(
            self.conninfo, self._kwargs, channel_name(self.schema, channel), callback
        )
        await listening.start()
        return listening

    async def explain_scan(self, index_id: int, lo: bytes, hi: bytes | None) -> str:
        query, params = _scan_query(index_id, lo, hi, False, 10)
        async with self.transaction(write=False) as tx:
            assert isinstance(tx, _PgTransaction)
            rows = await tx._fetch("EXPLAIN " + query, params)
        return "\n".join(str(row[0]) for row in rows)
