"""The types of a paginated query, as Convex names them on the wire.

Annotating a query with them gives validation and, through ``mainspring codegen``, the
TypeScript types ``usePaginatedQuery`` expects::

    @query
    async def feed(ctx: QueryCtx, channel: str, pagination_opts: PaginationOptions)
            -> PaginationResult:
        return await ctx.db.query("messages").order("desc").paginate(pagination_opts)
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

__all__ = ["PaginationOptions", "PaginationResult"]


class PaginationOptions(TypedDict):
    """``paginationOpts``: how many items, from where (``cursor`` None: the start)."""

    numItems: int
    cursor: str | None
    #: Read up to and including this position instead of ``numItems`` items.
    endCursor: NotRequired[str | None]
    #: The client's own counter, making page subscriptions distinct; ignored.
    id: NotRequired[int]
    maximumRowsRead: NotRequired[int]
    maximumBytesRead: NotRequired[int]


class PaginationResult(TypedDict):
    """One page: its items, whether the query is exhausted, and where the next page starts."""

    page: list[Any]
    isDone: bool
    continueCursor: str
    splitCursor: NotRequired[str | None]
    pageStatus: NotRequired[Literal["SplitRecommended", "SplitRequired"] | None]
