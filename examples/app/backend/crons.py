"""The example app's cron jobs: every cron of the seeds, in Python.

Crons are declared here, in code, and registered (added, updated, removed by name) when a
process starts; ``mainspring crons ls`` shows each one's schedule, next run and latest runs.
They call internal mutations and actions, with no user identity — credentials come from
deployment environment variables (``mainspring env set LARK_TOKEN …``), never from
``ctx.auth``.

Interval options (the first seed's "Interval Options"), for reference::

    crons.interval("job", {"seconds": 30}, fn)                # seconds (at least 1)
    crons.interval("job", {"minutes": 5}, fn)                 # minutes
    crons.interval("job", {"hours": 2}, fn)                   # hours
    crons.interval("job", {"hours": 1, "minutes": 30}, fn)    # combined: every 90 minutes

And the second seed's "Schedule Syntax"::

    crons.interval("job", {"minutes": 5}, fn)                 # every 5 minutes
    crons.cron("job", "0 16 * * *", fn)                       # standard cron, UTC
    crons.hourly("job", {"minute_utc": 0}, fn)                # minute 0 of every hour
    crons.daily("job", {"hour_utc": 0, "minute_utc": 0}, fn)  # midnight UTC
    crons.daily("job", {"hour": 9, "minute": 0}, fn, tz="Europe/Berlin")  # 09:00 in Berlin

A tick more than a minute late (the deployment was down) is skipped by default;
``catch_up="latest"`` runs the latest missed tick instead, ``catch_up="all"`` each missed one
(up to 100), one at a time.
"""

from __future__ import annotations

from mainspring import CronJobs, internal

crons = CronJobs()

# -- the first seed's crons.ts -----------------------------------------------------------------

# Every minute
crons.interval("cleanup temp files", {"minutes": 1}, internal.cleanup.temp_files)

# Every hour
crons.interval("sync external data", {"hours": 1}, internal.sync.external_data)

# Every day at midnight UTC
crons.daily("daily report", {"hour_utc": 0, "minute_utc": 0}, internal.reports.generate_daily)

# Every Monday at 9am UTC
crons.weekly(
    "weekly digest",
    {"day_of_week": "monday", "hour_utc": 9, "minute_utc": 0},
    internal.emails.send_weekly_digest,
)

# First of every month at midnight UTC
crons.monthly(
    "monthly billing",
    {"day": 1, "hour_utc": 0, "minute_utc": 0},
    internal.billing.process_monthly,
)

# Cron expression (every 15 minutes)
crons.cron("check for updates", "*/15 * * * *", internal.updates.check)

# -- the second seed's crons.ts ----------------------------------------------------------------

# Purge WebRTC signaling messages past their 1h TTL
crons.interval("purge expired signaling", {"hours": 1}, internal.signaling.purge_expired)
