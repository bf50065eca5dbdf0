"""Tables the work pool tests write: runs, completions, counters and a concurrency gauge."""

from __future__ import annotations

from typing import Any

from mainspring import Schema, Table


class Runs(Table, indexes={"by_tag": ["tag"]}):
    tag: str
    at: float


class Completions(Table, indexes={"by_work_id": ["work_id"]}):
    work_id: str
    context: Any
    result: Any


class Counters(Table):
    name: str
    n: int


class Gauges(Table):
    active: int
    peak: int


schema = Schema(runs=Runs, completions=Completions, counters=Counters, gauges=Gauges)
