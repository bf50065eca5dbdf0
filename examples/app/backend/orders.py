"""Orders — the seed's ``runAfter`` example: one mutation schedules three follow-ups.

``orders:create`` inserts the order and, in the same transaction, schedules
``orders:process_payment`` at once, ``emails:send_order_confirmation`` one second later and
``orders:check_abandoned`` in 24 hours. If ``create`` fails, none of them is scheduled.
"""

from __future__ import annotations

from mainspring import (
    AppError,
    Id,
    MutationCtx,
    QueryCtx,
    internal,
    internal_mutation,
    mutation,
    query,
)

from .schema import Orders, Products

DAY_MS = 24 * 60 * 60 * 1000


@mutation
async def add_product(
    ctx: MutationCtx, name: str, price_cents: int, in_stock: bool = True
) -> Id[Products]:
    """Add a product to order."""
    return await ctx.db.insert(
        "products", {"name": name, "price_cents": price_cents, "in_stock": in_stock}
    )


@mutation
async def create(ctx: MutationCtx, items: list[Id[Products]]) -> Id[Orders]:
    """Place an order and schedule its payment, confirmation email and abandonment check."""
    if not items:
        raise AppError({"code": "EMPTY_ORDER"})
    order_id: Id[Orders] = await ctx.db.insert("orders", {"items": items, "status": "pending"})
    # Process payment immediately
    await ctx.scheduler.run_after(0, internal.orders.process_payment, {"order_id": order_id})
    # Send confirmation email after 1 second
    await ctx.scheduler.run_after(
        1000, internal.emails.send_order_confirmation, {"order_id": order_id}
    )
    # Check for abandoned cart after 24 hours
    await ctx.scheduler.run_after(DAY_MS, internal.orders.check_abandoned, {"order_id": order_id})
    return order_id


@internal_mutation
async def process_payment(ctx: MutationCtx, order_id: Id[Orders]) -> None:
    """Charge the order: ``paid`` if every item is in stock, else ``payment_failed``."""
    order = await ctx.db.get(order_id)
    if order is None or order["status"] != "pending":
        return
    products = [await ctx.db.get(item) for item in order["items"]]
    if any(p is None or not p["in_stock"] for p in products):
        await ctx.db.patch(order_id, {"status": "payment_failed"})
        return
    total = sum(p["price_cents"] for p in products if p is not None)
    await ctx.db.patch(order_id, {"status": "paid", "total_cents": total})


@internal_mutation
async def check_abandoned(ctx: MutationCtx, order_id: Id[Orders]) -> bool:
    """A day later: an order still unpaid is abandoned. True if it was."""
    order = await ctx.db.get(order_id)
    if order is None or order["status"] == "paid":
        return False
    await ctx.db.patch(order_id, {"status": "abandoned"})
    return True


@query
async def get(ctx: QueryCtx, order_id: Id[Orders]) -> dict | None:  # type: ignore[type-arg]
    """An order, or None."""
    return await ctx.db.get(order_id)
