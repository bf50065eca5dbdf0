"""The live-query benchmark's one table: named counters."""

from __future__ import annotations

from mainspring import Schema, Table


class Counter(Table, indexes={"by_name": ["name"]}):
    name: str
    value: float


schema = Schema(counter=Counter)
