"""Functions whose hints cover the Python → TypeScript mapping of ``mainspring codegen``."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

from mainspring import (
    Id,
    MutationCtx,
    QueryCtx,
    StorageId,
    internal_mutation,
    mutation,
    query,
)

from .schema import Items


class Point(TypedDict):
    """A TypedDict argument and return value."""

    x: float
    y: float
    label: NotRequired[str]


class Tree(TypedDict):
    """Recursive: the inner reference can only be ``any``."""

    value: int
    children: list[Tree]


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@query
async def scalars(
    ctx: QueryCtx, text: str, count: int, ratio: float, flag: bool, raw: bytes
) -> tuple[str, int]:
    """Every scalar; a fixed-size tuple back."""
    return text, count


@query
async def containers(
    ctx: QueryCtx,
    names: list[str],
    scores: dict[str, float],
    pair: tuple[int, str],
    many: tuple[int, ...],
    maybe: str | None = None,
    choice: Literal["x", "y", 1, True] = "x",
) -> dict[str, list[int]]:
    """Arrays, records, tuples, optional and literal arguments."""
    return {}


@mutation
async def save_point(ctx: MutationCtx, point: Point, item_id: Id[Items]) -> Point:
    """A TypedDict in and out, and an id; camelCase alias ``savePoint`` takes ``itemId``."""
    return point


@query
async def get_item(ctx: QueryCtx, item_id: Id[Items]) -> dict[str, Any] | None:
    """A document as a plain dict."""
    return await ctx.db.get(item_id)


@query
async def attach(ctx: QueryCtx, file: StorageId, tree: Tree, color: Color) -> Color:
    """A storage id, a recursive TypedDict and an enum."""
    return color


@query
async def untyped(ctx, value, when: datetime):  # type: ignore[no-untyped-def]
    """No annotations: any; a datetime has no JSON shape: any, with a warning."""
    return value


@query
async def get_value(ctx: QueryCtx) -> int:
    """Its alias ``getValue`` is shadowed by the real function below."""
    return 1


@query
async def getValue(ctx: QueryCtx) -> str:
    """The exact name wins over ``get_value``'s alias."""
    return "real"


@query
async def foo_bar(ctx: QueryCtx) -> int:
    """Shares the alias ``fooBar`` with ``foo__bar``: neither gets it."""
    return 1


@query
async def foo__bar(ctx: QueryCtx) -> int:
    """Shares the alias ``fooBar`` with ``foo_bar``: neither gets it."""
    return 2


@query
async def both_forms(ctx: QueryCtx, item_id: str, itemId: str) -> str:
    """A parameter named like another's alias: no argument alias."""
    return item_id + itemId


@internal_mutation
async def secret_step(ctx: MutationCtx, job_name: str) -> None:
    """Internal: in ``internal`` only."""
