"""Tables of the scheduler tests' app."""

from __future__ import annotations

from mainspring import Schema, Table


class Counters(Table, indexes={"by_name": ["name"]}):
    name: str
    n: int


class Runs(Table, indexes={"by_tag": ["tag"]}):
    tag: str
    identity: bool


schema = Schema(counters=Counters, runs=Runs)
