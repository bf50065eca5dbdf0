"""The benchmark's crons, as many as ``BENCH_CRONS`` says (none by default).

``BENCH_CRON_EVERY=second`` (the default) makes each an every-second interval;
``BENCH_CRON_EVERY=day`` makes each a daily cron at a time more than an hour away from now
(``BENCH_CRON_HOUR_UTC``, else twelve hours from now), for the idle-CPU measurement.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from mainspring import CronJobs, internal

COUNT = int(os.environ.get("BENCH_CRONS", "0"))
EVERY = os.environ.get("BENCH_CRON_EVERY", "second")
HOUR = int(os.environ.get("BENCH_CRON_HOUR_UTC", str((datetime.now(UTC).hour + 12) % 24)))

crons = CronJobs()
for i in range(COUNT):
    name = f"bench {i:04d}"
    if EVERY == "second":
        crons.interval(name, {"seconds": 1}, internal.bench.record, {"i": i})
    else:
        at = {"hour_utc": HOUR, "minute_utc": i % 60}
        crons.daily(name, at, internal.bench.record, {"i": i})
