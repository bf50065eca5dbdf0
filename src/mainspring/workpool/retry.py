"""``run_with_retries``: call an action from an action, retrying it per a policy.

For one-off calls that do not need a queue, a cap or a durable record::

    result = await run_with_retries(ctx, internal.payments.charge, {"order": order_id},
                                    RetryPolicy(max_attempts=4, initial_backoff_ms=500))

Waits go through the runtime's clock (a test's virtual clock moves them forward), failures
that retrying cannot fix (:class:`~mainspring.errors.NonRetryableError`, a missing function,
arguments the signature rejects) are raised at once, and the last failure is raised when the
attempts run out. The retries live only as long as the calling action: for work that must
survive a crash, enqueue it on a :class:`~mainspring.workpool.Workpool`.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from ..context import ActionCtx, scope_of
from ..errors import NotAllowedError
from .policy import RetryPolicy, retryable

__all__ = ["run_with_retries"]

log = logging.getLogger("mainspring.workpool")


async def run_with_retries(
    ctx: ActionCtx,
    action: Any,
    args: dict[str, Any] | None = None,
    policy: RetryPolicy | None = None,
    *,
    rng: random.Random | None = None,
) -> Any:
    """Run ``action(args)`` through ``ctx.run_action`` until it succeeds or ``policy`` (the
    default :class:`RetryPolicy` if None) says stop; returns its value."""
    if not isinstance(ctx, ActionCtx):
        raise NotAllowedError(
            "run_with_retries runs in an action (it waits between attempts); from a mutation, "
            "enqueue the action on a Workpool with a retry policy"
        )
    policy = policy or RetryPolicy()
    clock = scope_of(ctx).runtime.clock
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return await ctx.run_action(action, args or {})
        except Exception as exc:
            if not retryable(exc) or attempt == policy.max_attempts:
                raise
            delay = policy.backoff_ms(attempt, rng)
            log.info(
                "attempt %d of %r failed (%s); retrying in %.0f ms", attempt, action, exc, delay
            )
            await clock.sleep_until(clock.now_ms() + delay)
    raise AssertionError("unreachable")
