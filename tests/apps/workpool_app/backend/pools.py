"""The pools the tests use, declared at module level as an app declares them."""

from __future__ import annotations

from mainspring import RetryPolicy, Workpool

#: Retries on a fixed schedule: 1 s, 2 s, 4 s after the 1st, 2nd, 3rd failure.
flaky_pool = Workpool(
    "flaky",
    max_parallelism=2,
    retry=RetryPolicy(max_attempts=4, initial_backoff_ms=1000, base=2, jitter=False),
)
#: No retries.
plain_pool = Workpool("plain", max_parallelism=5)
#: Jittered backoff: 1 s * 3^(n-1) * [0.5, 1.5).
jitter_pool = Workpool(
    "jittery", retry=RetryPolicy(max_attempts=5, initial_backoff_ms=1000, base=3, jitter=True)
)
#: The multi-process tests' pool.
capped_pool = Workpool(
    "capped",
    max_parallelism=3,
    retry=RetryPolicy(max_attempts=20, initial_backoff_ms=50, base=1.5, jitter=True),
)
#: The SIGKILL test's pool: wide, and retrying what died with its process.
wide_pool = Workpool(
    "wide",
    max_parallelism=40,
    retry=RetryPolicy(max_attempts=50, initial_backoff_ms=20, base=1.2, jitter=True),
)
