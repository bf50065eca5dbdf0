"""What a commit changed, matched against what a live query read.

A commit's :class:`~mainspring.db.store.WriteSet` becomes a :class:`Changes`: the index keys
it wrote (old and new), the documents and the tables. A live query is re-run when the
changes meet its :class:`~mainspring.db.read_set.ReadSet`: a written key inside a scanned
range, a written id it fetched, or the first document of a table it found missing.

Between processes the changes travel as a notification payload. PostgreSQL caps those at
8000 bytes, so a large commit is sent coarsely (its tables only; queries that looked at
those tables re-run), and a listener that may have missed some gets :data:`EVERYTHING`.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from dataclasses import dataclass, field

from ..db.read_set import ReadSet
from ..db.store import WriteSet

__all__ = ["EVERYTHING", "Changes"]

_MAX_PAYLOAD = 7000


@dataclass
class Changes:
    """Keys by index id, document ids and table names one or more commits wrote."""

    keys: dict[int, list[bytes]] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)
    tables: set[str] = field(default_factory=set)
    #: Only ``tables`` is known (a coarse notification): match on tables read.
    coarse: bool = False
    #: Anything may have changed: every live query re-runs.
    everything: bool = False

    @classmethod
    def of(cls, writes: WriteSet) -> Changes:
        """The changes of one committed transaction."""
        keys: defaultdict[int, list[bytes]] = defaultdict(list)
        for index_id, key in writes.keys:
            keys[index_id].append(key)
        return cls(dict(keys), set(writes.documents), set(writes.documents.values()))

    def affects(self, reads: ReadSet) -> bool:
        """Whether a query that read ``reads`` may see something different now."""
        if self.everything:
            return True
        if self.coarse:
            return not self.tables.isdisjoint(reads.tables)
        if reads.missing_tables and not self.tables.isdisjoint(reads.missing_tables):
            return True
        if reads.ids and not self.ids.isdisjoint(reads.ids):
            return True
        for index_id, lo, hi in reads.ranges:
            for key in self.keys.get(index_id, ()):
                if lo <= key and (hi is None or key < hi):
                    return True
        return False

    def to_payload(self) -> str:
        """A notification payload (fine-grained when it fits, else the tables)."""
        if self.everything:
            return '{"all":1}'
        fine = json.dumps(
            {
                "k": [
                    [index_id, [base64.b64encode(k).decode() for k in keys]]
                    for index_id, keys in self.keys.items()
                ],
                "i": sorted(self.ids),
                "t": sorted(self.tables),
            },
            separators=(",", ":"),
        )
        if len(fine) <= _MAX_PAYLOAD:
            return fine
        coarse = json.dumps({"t": sorted(self.tables)}, separators=(",", ":"))
        return coarse if len(coarse) <= _MAX_PAYLOAD else '{"all":1}'

    @classmethod
    def from_payload(cls, payload: str) -> Changes:
        """The changes a payload describes (EVERYTHING if it cannot be read)."""
        try:
            data = json.loads(payload)
            if data.get("all"):
                return EVERYTHING
            tables = set(data["t"])
            if "k" not in data:
                return cls(tables=tables, coarse=True)
            keys = {
                int(index_id): [base64.b64decode(k) for k in encoded]
                for index_id, encoded in data["k"]
            }
            return cls(keys, set(data["i"]), tables)
        except (ValueError, KeyError, TypeError, AttributeError):
            return EVERYTHING


#: Anything may have changed (a missed notification, a restarted listener).
EVERYTHING = Changes(everything=True)
