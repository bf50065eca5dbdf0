"""The benchmark's one table."""

from __future__ import annotations

from mainspring import Schema, Table


class Lateness(Table):
    ms: float


schema = Schema(lateness=Lateness)
