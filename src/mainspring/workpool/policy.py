"""Retry policies: how many attempts, how long to wait between them, which failures retry.

The wait after failed attempt number *n* (1 for the first failure) is
``initial_backoff_ms * base^(n-1)``; with ``jitter`` it is multiplied by a random factor in
``[0.5, 1.5)`` so that work which failed together (an outage) does not retry in lockstep —
the mean wait stays the nominal one. Failures that retrying cannot fix are never retried:
:class:`~mainspring.errors.NonRetryableError`, and a function that is missing, refuses the
caller, or was given arguments its signature rejects.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from ..backoff import Backoff
from ..errors import (
    FunctionNotFoundError,
    NonRetryableError,
    NotAllowedError,
    SchemaError,
    ValidationError,
)

__all__ = ["MAX_BACKOFF_MS", "RetryPolicy", "retryable"]

#: No single wait is longer than a day, whatever the policy's arithmetic says.
MAX_BACKOFF_MS = 24 * 60 * 60 * 1000.0
#: Failures that would fail the same way again.
_PERMANENT = (
    NonRetryableError,
    ValidationError,
    FunctionNotFoundError,
    NotAllowedError,
    SchemaError,
)


def retryable(exc: BaseException) -> bool:
    """False for failures that retrying cannot fix (see the module docstring)."""
    return not isinstance(exc, _PERMANENT)


@dataclass(frozen=True)
class RetryPolicy:
    """Up to ``max_attempts`` attempts in all (the first run included), waiting
    ``initial_backoff_ms * base^(n-1)`` ms after the n-th failure, times a random factor in
    ``[0.5, 1.5)`` when ``jitter`` is on."""

    max_attempts: int = 5
    initial_backoff_ms: float = 250.0
    base: float = 2.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise SchemaError(
                f"RetryPolicy: max_attempts must be an int, got {self.max_attempts!r}"
            )
        if self.max_attempts < 1:
            raise SchemaError(
                f"RetryPolicy: max_attempts must be at least 1, got {self.max_attempts}"
            )
        for name in ("initial_backoff_ms", "base"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SchemaError(f"RetryPolicy: {name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise SchemaError(f"RetryPolicy: {name} must be finite, got {value!r}")
        if self.initial_backoff_ms < 0:
            raise SchemaError(
                "RetryPolicy: initial_backoff_ms must not be negative, "
                f"got {self.initial_backoff_ms}"
            )
        if self.base < 1:
            raise SchemaError(f"RetryPolicy: base must be at least 1, got {self.base}")

    def backoff_ms(self, failed_attempt: int, rng: random.Random | None = None) -> float:
        """The wait after failed attempt number ``failed_attempt`` (1-based)."""
        if failed_attempt < 1:
            raise ValueError(f"failed_attempt is 1-based, got {failed_attempt}")
        backoff = Backoff(self.initial_backoff_ms, self.base, MAX_BACKOFF_MS, self.jitter)
        return backoff.delay(failed_attempt, rng)

    def to_row(self) -> dict[str, Any]:
        """The policy as stored on a work item (Convex's field names)."""
        return {
            "maxAttempts": self.max_attempts,
            "initialBackoffMs": float(self.initial_backoff_ms),
            "base": float(self.base),
            "jitter": self.jitter,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RetryPolicy:
        """The policy a work item stored."""
        return cls(
            max_attempts=int(row["maxAttempts"]),
            initial_backoff_ms=float(row["initialBackoffMs"]),
            base=float(row["base"]),
            jitter=bool(row["jitter"]),
        )
