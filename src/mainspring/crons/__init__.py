"""Cron jobs: declared in ``backend/crons.py``, reconciled at start-up, fired once per tick.

* :mod:`.jobs` — :class:`~.jobs.CronJobs`, the declarations, validated as they are made;
* :mod:`.schedule` — when each kind of schedule fires (time zones, daylight saving);
* :mod:`.tables` — the ``_cron_jobs`` and ``_cron_runs`` rows;
* :mod:`.reconcile` — bringing ``_cron_jobs`` in line with the declarations at start-up;
* :mod:`.firing` — deciding due ticks (fire, skip, catch up) exactly once;
* :mod:`.history` — the run history, kept in step with the scheduler's rows;
* :mod:`.runner` — the service that fires crons in a process, and its harness form.
"""
