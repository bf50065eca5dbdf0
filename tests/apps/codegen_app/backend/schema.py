"""The codegen test app's tables: every kind of field ``dataModel.d.ts`` renders."""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from mainspring import Id, Schema, StorageId, Table


class Owners(Table):
    name: str


class Items(Table, indexes={"by_owner": ["owner"]}):
    name: str
    owner: Id[Owners]
    kind: Literal["tool", "part"]
    tags: list[str]
    price: float
    stock: int
    picture: NotRequired[StorageId]
    extra: dict[str, Any] | None


schema = Schema(items=Items, owners=Owners)
