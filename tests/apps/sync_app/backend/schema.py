"""Tables of the sync test app (served to the official JS client over the socket)."""

from __future__ import annotations

from mainspring import Schema, Table


class Messages(Table, indexes={"by_channel": ["channel"]}):
    channel: str
    body: str
    author: str


class Items(Table, indexes={"by_rank": ["channel", "rank"]}):
    channel: str
    rank: int


schema = Schema(messages=Messages, items=Items)
