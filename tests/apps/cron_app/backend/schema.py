from __future__ import annotations

from typing import Any

from mainspring import Schema, Table


class Ticks(Table, indexes={"by_cron": ["cron"]}):
    cron: str
    at: float
    identity: Any
    token: Any


schema = Schema(ticks=Ticks)
