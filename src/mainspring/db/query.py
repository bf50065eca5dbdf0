"""The query builder behind ``ctx.db.query(table)``.

``ctx.db.query("jobs").with_index("by_status", lambda q: q.eq("status", "pending"))``
``.order("desc").filter(lambda job: job["attempts"] < 3).take(10)``
"""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..errors import ValidationError
from .keys import encode_value, prefix_end
from .page_journal import current_journal_scope

if TYPE_CHECKING:
    from .base import IndexRow


class IndexReader(Protocol):
    """What a query reads through (:class:`~.store.DocumentReader`): recorded index scans."""

    async def index_for(self, table: str, index: str) -> IndexRow | None: ...

    async def scan(
        self, index: IndexRow, lo: bytes, hi: bytes | None, descending: bool, limit: int
    ) -> list[tuple[bytes, dict[str, Any]]]: ...


__all__ = ["IndexRangeBuilder", "Query"]

_BATCH = 256
_MAX_PAGE = 8192


class IndexRangeBuilder:
    """Equalities on a prefix of the index fields, then bounds on the next field."""

    def __init__(self, index: str, fields: tuple[str, ...]) -> None:
        self._index, self._fields = index, fields
        self._eq: list[Any] = []
        self._lower: tuple[str, Any] | None = None
        self._upper: tuple[str, Any] | None = None

    def _next_field(self, op: str, field: str) -> None:
        position = len(self._eq)
        if self._lower or self._upper:
            raise ValidationError(f"index {self._index!r}: .{op}({field!r}) after a range bound")
        if position >= len(self._fields) or self._fields[position] != field:
            expected = self._fields[position] if position < len(self._fields) else "nothing"
            raise ValidationError(
                f"index {self._index!r} on {list(self._fields)}: .{op}({field!r}) must name "
                f"the next index field, {expected!r}"
            )

    def _bound_field(self, op: str, field: str) -> None:
        bounded = (self._lower or self._upper or (None,))[0]
        if bounded is not None:
            if field != bounded:
                raise ValidationError(f"index {self._index!r}: bounds on two fields")
            return
        position = len(self._eq)
        if position >= len(self._fields) or self._fields[position] != field:
            expected = self._fields[position] if position < len(self._fields) else "nothing"
            raise ValidationError(
                f"index {self._index!r}: .{op}({field!r}) must bound the next index field, "
                f"{expected!r}"
            )

    def eq(self, field: str, value: Any) -> IndexRangeBuilder:
        """Index field ``field`` equals ``value``."""
        self._next_field("eq", field)
        self._eq.append(value)
        return self

    def gt(self, field: str, value: Any) -> IndexRangeBuilder:
        """Lower bound, exclusive."""
        return self._set_lower("gt", field, value)

    def gte(self, field: str, value: Any) -> IndexRangeBuilder:
        """Lower bound, inclusive."""
        return self._set_lower("gte", field, value)

    def lt(self, field: str, value: Any) -> IndexRangeBuilder:
        """Upper bound, exclusive."""
        return self._set_upper("lt", field, value)

    def lte(self, field: str, value: Any) -> IndexRangeBuilder:
        """Upper bound, inclusive."""
        return self._set_upper("lte", field, value)

    def _set_lower(self, op: str, field: str, value: Any) -> IndexRangeBuilder:
        self._bound_field(op, field)
        if self._lower:
            raise ValidationError(f"index {self._index!r}: two lower bounds")
        self._lower = (field, (op, value))
        return self

    def _set_upper(self, op: str, field: str, value: Any) -> IndexRangeBuilder:
        self._bound_field(op, field)
        if self._upper:
            raise ValidationError(f"index {self._index!r}: two upper bounds")
        self._upper = (field, (op, value))
        return self

    def bounds(self) -> tuple[bytes, bytes | None]:
        """The byte range ``[lo, hi)`` of index keys this range selects."""
        prefix = b"".join(encode_value(v) for v in self._eq)
        lo: bytes = prefix
        hi: bytes | None = prefix_end(prefix) if prefix else None
        if self._lower:
            op, value = self._lower[1]
            key = prefix + encode_value(value)
            lo = key if op == "gte" else (prefix_end(key) or key)
        if self._upper:
            op, value = self._upper[1]
            key = prefix + encode_value(value)
            hi = key if op == "lt" else prefix_end(key)
        return lo, hi


_CURSOR_VERSION = 0x10  # high nibble of the flags byte; a new layout gets a new one
_DESC, _END, _START = 0x01, 0x02, 0x04


@dataclass(frozen=True, slots=True)
class _Cursor:
    """A position in one index's order, as in a pagination cursor or a query journal.

    ``key`` is an index key: as the start of a page the page begins right after it (in the
    query's order), as the end of a page the page ends with it, included. ``key=None`` is the
    position before the first item. ``end`` marks the end of the query: as the end of a page
    it means "everything after the start, including items appended later"; as the start of a
    page it still means "after ``key``". So the ``continueCursor`` of a last page, an end
    cursor that remembers the page's last item, both re-reads the growing last page (as its
    end) and yields only what follows that page's last item (as the next page's start).
    """

    index_id: int  # 0: made while the table did not exist yet
    descending: bool
    key: bytes | None
    end: bool = False

    def encode(self) -> str:
        flags = _CURSOR_VERSION
        flags |= _DESC if self.descending else 0
        flags |= _END if self.end else 0
        flags |= _START if self.key is None else 0
        raw = struct.pack(">BI", flags, self.index_id) + (self.key or b"")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid_cursor(message: str) -> ValidationError:
    # The React hook (usePaginatedQuery) drops its pages and starts again when an error's
    # message contains "InvalidCursor", so every cursor problem must say it.
    return ValidationError(f"InvalidCursor: {message}")


def _decode_cursor(text: Any, what: str) -> _Cursor:
    """Parse a cursor string; its fit with a particular query is checked by the caller."""
    if not isinstance(text, str):
        raise _invalid_cursor(f"{what} must be a string, got {type(text).__name__}")
    shown = text if len(text) <= 40 else text[:37] + "..."
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:  # binascii.Error, or a non-ASCII string
        raw = b""
    cursor: _Cursor | None = None
    if len(raw) >= 5 and (raw[0] & 0xF8) == _CURSOR_VERSION:  # 0x08 is no flag yet
        flags, index_id = struct.unpack(">BI", raw[:5])
        key = raw[5:]
        if bool(flags & _START) != (not key):
            raise _invalid_cursor(f"{what} {shown!r} is malformed")
        start = None if flags & _START else key
        cursor = _Cursor(index_id, bool(flags & _DESC), start, bool(flags & _END))
    # Only the canonical spelling is a cursor: base64 decoding forgives stray characters
    # and padding bits, which would let two strings name one position.
    if cursor is None or cursor.encode() != text:
        raise _invalid_cursor(f"{what} {shown!r} is malformed")
    return cursor


def _fit_cursor(cursor: _Cursor, index_id: int, descending: bool, what: str) -> _Cursor:
    """``cursor`` if it was made for this index and order (stamped with this index)."""
    if cursor.descending != descending:
        made, used = ("desc", "asc") if cursor.descending else ("asc", "desc")
        raise _invalid_cursor(f"{what} was made for order {made!r}, this query's is {used!r}")
    if index_id == 0:  # no table yet, so no items: any position reads as nothing
        return cursor
    # A cursor made before the table existed holds no position, only "start" or "end".
    if cursor.index_id != index_id and not (cursor.index_id == 0 and cursor.key is None):
        raise _invalid_cursor(f"{what} belongs to a different query (another index)")
    return _Cursor(index_id, descending, cursor.key, cursor.end)


class Query:
    """A lazy query over one table; nothing is read until a terminal method is awaited."""

    def __init__(self, reader: IndexReader, table: str) -> None:
        self._reader = reader
        self._table = table
        self._index: IndexRow | None = None
        self._index_name = "by_creation_time"
        self._range: tuple[bytes, bytes | None] = (b"", None)
        self._order: Literal["asc", "desc"] = "asc"
        self._filters: list[Callable[[dict[str, Any]], Any]] = []
        self._indexed = False

    def with_index(
        self, name: str, range: Callable[[IndexRangeBuilder], IndexRangeBuilder] | None = None
    ) -> Query:
        """Read through index ``name``, optionally restricted to a range of its keys."""
        if self._indexed:
            raise ValidationError(f"query on {self._table!r}: with_index called twice")
        self._indexed = True
        self._index_name = name
        self._range_fn = range
        return self

    def full_table_scan(self) -> Query:
        """Read the whole table in creation order (the default)."""
        return self

    def order(self, order: Literal["asc", "desc"]) -> Query:
        """Ascending (default) or descending index order."""
        if order not in ("asc", "desc"):
            raise ValidationError(f"order must be 'asc' or 'desc', got {order!r}")
        self._order = order
        return self

    def filter(self, predicate: Callable[[dict[str, Any]], Any]) -> Query:
        """Keep only documents for which ``predicate(document)`` is truthy."""
        if not callable(predicate):
            raise ValidationError("filter takes a function of the document")
        self._filters.append(predicate)
        return self

    async def _resolve(self) -> tuple[IndexRow | None, bytes, bytes | None]:
        index = await self._reader.index_for(self._table, self._index_name)
        if index is None:
            return None, b"", None
        lo, hi = b"", None
        range_fn = getattr(self, "_range_fn", None)
        if range_fn is not None:
            builder = range_fn(IndexRangeBuilder(self._index_name, index.fields))
            if not isinstance(builder, IndexRangeBuilder):
                raise ValidationError(
                    f"index {self._index_name!r}: the range function must "
                    "return the builder (e.g. lambda q: q.eq(...))"
                )
            lo, hi = builder.bounds()
        return index, lo, hi

    async def _stream(
        self, lo: bytes, hi: bytes | None, limit: int | None = None
    ) -> AsyncIterator[tuple[bytes, dict[str, Any]]]:
        index, base_lo, base_hi = await self._resolve()
        if index is None:
            return
        lo = max(lo, base_lo)
        if base_hi is not None:
            hi = base_hi if hi is None else min(hi, base_hi)
        descending = self._order == "desc"
        while True:
            batch = _BATCH if limit is None else min(_BATCH, max(limit, 1))
            rows = await self._reader.scan(index, lo, hi, descending, batch)
            for key, document in rows:
                if all(f(document) for f in self._filters):
                    yield key, document
            if len(rows) < batch:
                return
            last = rows[-1][0]
            if descending:
                hi = last
            else:
                lo = last + b"\x00"

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._documents()

    async def _documents(self) -> AsyncIterator[dict[str, Any]]:
        async for _, document in self._stream(b"", None):
            yield document

    async def collect(self) -> list[dict[str, Any]]:
        """Every matching document."""
        return [doc async for doc in self]

    async def take(self, n: int) -> list[dict[str, Any]]:
        """The first ``n`` matching documents."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValidationError(f"take(n): n must be a non-negative integer, got {n!r}")
        out: list[dict[str, Any]] = []
        if n == 0:
            return out
        async for _, doc in self._stream(b"", None, limit=None if self._filters else n):
            out.append(doc)
            if len(out) >= n:
                break
        return out

    async def first(self) -> dict[str, Any] | None:
        """The first matching document, or None."""
        found = await self.take(1)
        return found[0] if found else None

    async def unique(self) -> dict[str, Any] | None:
        """The only matching document, None if there is none; more than one is an error."""
        found = await self.take(2)
        if len(found) > 1:
            raise ValidationError(
                f"unique() on {self._table!r} found more than one document "
                f"({found[0]['_id']}, {found[1]['_id']})"
            )
        return found[0] if found else None

    async def paginate(
        self,
        options: Mapping[str, Any] | None = None,
        *,
        cursor: str | None = None,
        num_items: int | None = None,
        end_cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page: ``{"page", "isDone", "continueCursor"}``.

        Pass Convex's ``paginationOpts`` (``{"numItems": n, "cursor": c, "endCursor"?: e}``;
        ``id``, ``maximumRowsRead`` and ``maximumBytesRead`` are accepted and ignored) or the
        keywords ``num_items=``, ``cursor=`` and ``end_cursor=``.

        Without an end, the page is up to ``numItems`` items after ``cursor``. With one, the
        explicit ``endCursor`` or else, for the first paginate() in a live query's
        :func:`~mainspring.db.page_journal.journal_scope`, that scope's journal, the page is
        every item after ``cursor`` up to and including the end, however many there are now,
        and ``numItems`` is ignored: so a live page keeps its boundaries while it grows or
        shrinks (see :mod:`mainspring.db.page_journal`).

        ``continueCursor`` is where the page ends, and the next page starts after it: the
        last item of a full page, or the given end. A page that reaches the end of the query
        (``isDone``) ends with an end-of-query cursor that also remembers its last item: as
        an end (or journal) it re-reads the page together with any items appended later; as
        the next page's ``cursor`` it yields only the items after that last item. The first
        paginate() in a journal scope records ``continueCursor`` as the scope's journal.

        A malformed cursor, end or journal, or one made for another index or order, raises
        :class:`ValidationError` with ``InvalidCursor`` in its message.
        """
        scope = current_journal_scope()
        if scope is not None and not scope.claim():
            scope = None  # a live query's journal is its first page's; later ones run as usual
        end_text: Any = end_cursor
        if options is not None:
            if not isinstance(options, Mapping):
                raise ValidationError(
                    f"paginate: options must be a dict like {{'numItems': 10, 'cursor': None}}, "
                    f"got {type(options).__name__}"
                )
            num_items = options.get("numItems", num_items)
            cursor = options.get("cursor", cursor)
            end_text = options.get("endCursor", end_text)
        what_end = "endCursor"
        if not end_text and scope is not None and scope.journal_in:
            end_text, what_end = scope.journal_in, "query journal"

        index, _, _ = await self._resolve()
        index_id = index.id if index else 0
        descending = self._order == "desc"
        start: _Cursor | None = None
        if cursor:  # "" is no cursor, as None
            start = _fit_cursor(_decode_cursor(cursor, "cursor"), index_id, descending, "cursor")
        end: _Cursor | None = None
        if end_text:
            end = _fit_cursor(_decode_cursor(end_text, what_end), index_id, descending, what_end)
        limit: int | None = None
        if end is None:
            limit = min(_page_size(num_items), _MAX_PAGE)

        # The page is the key range after the start and up to and including the end: in
        # ascending order the keys above the start, in descending order those below it.
        lo, hi = b"", None
        after = start.key if start else None
        if after is not None:
            if descending:
                hi = after
            else:
                lo = after + b"\x00"  # the smallest key above ``after``
        empty = False
        if end is not None and not end.end:
            if end.key is None:  # a page that ends before the first item
                empty = True
            elif descending:
                lo = max(lo, end.key)
            else:
                hi = end.key + b"\x00" if hi is None else min(hi, end.key + b"\x00")
        if hi is not None and lo >= hi:
            empty = True

        page: list[dict[str, Any]] = []
        last_key: bytes | None = None
        done = True
        if not empty and index is not None:
            # Without filters the database can stop at the page (+1 to see whether it is the
            # last); with them it reads batches until enough documents pass.
            fetch = None if limit is None or self._filters else limit + 1
            async for key, doc in self._stream(lo, hi, limit=fetch):
                if len(page) == limit:
                    done = False
                    break
                page.append(doc)
                last_key = key

        position = last_key if last_key is not None else after
        if end is None:
            continue_at = _Cursor(index_id, descending, position, end=done)
        elif end.end:
            continue_at = _Cursor(index_id, descending, position, end=True)
        else:
            continue_at, done = end, False
        continue_cursor = continue_at.encode()
        if scope is not None:
            scope.journal_out = continue_cursor
        return {"page": page, "isDone": done, "continueCursor": continue_cursor}


def _page_size(num_items: Any) -> int:
    """``numItems`` as a positive int (a JS client's number may arrive as an integral float)."""
    if isinstance(num_items, float) and num_items.is_integer():
        num_items = int(num_items)
    if not isinstance(num_items, int) or isinstance(num_items, bool) or num_items < 1:
        raise ValidationError(f"paginate: numItems must be a positive integer, got {num_items!r}")
    return num_items
