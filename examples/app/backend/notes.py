"""Notes: every kind of function over an indexed table.

* ``notes:add``, ``notes:set_pinned``, ``notes:remove`` — mutations (one transaction each);
* ``notes:list_by_author`` — a query through an index, newest first;
* ``notes:page`` — one page by ``num_items`` and ``cursor`` (for HTTP callers);
* ``notes:feed`` — the same pages for ``usePaginatedQuery`` (``paginationOpts``), live;
* ``notes:count`` — an internal query (other functions and the admin only);
* ``notes:add_many`` — an action calling mutations and the internal query.
"""

from __future__ import annotations

from typing import Any

from mainspring import (
    ActionCtx,
    AppError,
    Id,
    MutationCtx,
    PaginationOptions,
    PaginationResult,
    QueryCtx,
    action,
    api,
    internal,
    internal_query,
    mutation,
    query,
)

from .schema import Notes, Users


@mutation
async def add(
    ctx: MutationCtx,
    author: Id[Users],
    body: str,
    tags: list[str] | None = None,
    pinned: bool = False,
) -> Id[Notes]:
    """Add a note by ``author``; raises AppError for an empty body or an unknown author."""
    if not body.strip():
        raise AppError({"code": "EMPTY_NOTE", "message": "a note needs a body"})
    if await ctx.db.get(author) is None:
        raise AppError({"code": "UNKNOWN_AUTHOR", "author": author})
    note = {"author": author, "body": body, "tags": tags or [], "pinned": pinned}
    note_id = await ctx.db.insert("notes", note)
    print(f"note {note_id} added")
    return note_id


@query
async def list_by_author(
    ctx: QueryCtx, author: Id[Users], pinned_only: bool = False
) -> list[dict[str, Any]]:
    """A user's notes, newest first (only the pinned ones with ``pinned_only``)."""
    if pinned_only:
        notes = ctx.db.query("notes").with_index(
            "by_author_pinned", lambda q: q.eq("author", author).eq("pinned", True)
        )
    else:
        notes = ctx.db.query("notes").with_index("by_author", lambda q: q.eq("author", author))
    return await notes.order("desc").collect()


@query
async def page(ctx: QueryCtx, num_items: int = 10, cursor: str | None = None) -> dict[str, Any]:
    """One page of all notes, newest first: ``{"page", "isDone", "continueCursor"}``."""
    return await ctx.db.query("notes").order("desc").paginate(num_items=num_items, cursor=cursor)


@query
async def feed(ctx: QueryCtx, pagination_opts: PaginationOptions) -> PaginationResult:
    """All notes, newest first, a page at a time: ``usePaginatedQuery(api.notes.feed, {})``.

    Over the socket each page keeps its end where its first run put it, so a note added
    while several pages are shown lands in exactly one of them.
    """
    return await ctx.db.query("notes").order("desc").paginate(pagination_opts)


@mutation
async def set_pinned(ctx: MutationCtx, id: Id[Notes], pinned: bool) -> None:
    """Pin or unpin a note."""
    await ctx.db.patch(id, {"pinned": pinned})


@mutation
async def remove(ctx: MutationCtx, id: Id[Notes]) -> None:
    """Delete a note; AppError NOT_FOUND (with the id) if there is none."""
    if await ctx.db.get(id) is None:
        raise AppError({"code": "NOT_FOUND", "id": id})
    await ctx.db.delete(id)


@internal_query
async def count(ctx: QueryCtx, author: Id[Users] | None = None) -> int:
    """How many notes (by ``author``, if given)."""
    notes = ctx.db.query("notes")
    if author is not None:
        notes = notes.with_index("by_author", lambda q: q.eq("author", author))
    return len(await notes.collect())


@action
async def add_many(ctx: ActionCtx, author: Id[Users], bodies: list[str]) -> int:
    """Add several notes, one transaction each, and return the author's note count."""
    for body in bodies:
        await ctx.run_mutation(api.notes.add, {"author": author, "body": body})
    total: int = await ctx.run_query(internal.notes.count, {"author": author})
    return total
