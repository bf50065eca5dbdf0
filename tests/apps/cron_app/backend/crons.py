from __future__ import annotations

import os

from mainspring import CronJobs, internal

crons = CronJobs()
crons.cron("quarter hours", "*/15 * * * *", internal.ticks.record, {"cron": "quarter hours"})
crons.interval(
    "every 10m", {"minutes": 10}, internal.ticks.record_from_action, {"cron": "every 10m"}
)
if os.environ.get("CRON_APP_EVERY_SECOND"):  # the multi-process test's worker processes
    crons.interval("every second", {"seconds": 1}, internal.ticks.record, {"cron": "every second"})
