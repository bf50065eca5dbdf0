"""``CronJobs``: crons declared in code, in ``backend/crons.py``::

    crons = CronJobs()
    crons.interval("cleanup temp files", {"minutes": 1}, internal.cleanup.temp_files)
    crons.daily("daily report", {"hour_utc": 0, "minute_utc": 0}, internal.reports.generate_daily)
    crons.weekly("weekly digest", {"day_of_week": "monday", "hour_utc": 9, "minute_utc": 0}, …)
    crons.monthly("monthly billing", {"day": 1, "hour_utc": 0, "minute_utc": 0}, …)
    crons.cron("check for updates", "*/15 * * * *", internal.updates.check)
    crons.cron("berlin digest", "0 9 * * mon", internal.emails.digest, tz="Europe/Berlin")

Every declaration is validated when the module loads, with an error naming the cron. Option
keys follow the seeds (``hourUTC``, ``dayOfWeek``) or Python (``hour_utc``, ``day_of_week``);
with ``tz=`` the plain ``hour`` / ``minute`` read better and mean the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import SchemaError
from ..values import check_value
from .schedule import CalendarSchedule, IntervalSchedule, Schedule, zone
from .tables import SYSTEM_CRON_PREFIX

__all__ = ["CatchUp", "CronJob", "CronJobs"]

CatchUp = Literal["skip", "latest", "all"]
_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_UNITS_MS = {"seconds": 1_000, "minutes": 60_000, "hours": 3_600_000}
_PRINTABLE = re.compile(r"^[\x20-\x7e]{1,128}$")


@dataclass(frozen=True)
class CronJob:
    """One declared cron: when it fires, what it calls, with which arguments."""

    name: str
    schedule: Schedule
    function: Any
    args: dict[str, Any] = field(default_factory=dict)
    catch_up: CatchUp = "skip"


def _snake(key: str) -> str:
    # hourUTC -> hour_utc, dayOfWeek -> day_of_week
    key = key.replace("UTC", "_utc")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _int(
    name: str, options: Mapping[str, Any], key: str, low: int, high: int, default: int | None = None
) -> int:
    found = [v for k, v in options.items() if _snake(k) in (key, f"{key}_utc")]
    if len(found) > 1:
        raise SchemaError(f"cron {name!r}: {key!r} is given twice (as {key} and {key}_utc)")
    if not found:
        if default is not None:
            return default
        raise SchemaError(f"cron {name!r}: missing {key!r}")
    value = found[0]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise SchemaError(f"cron {name!r}: {key} must be an integer {low}-{high}, got {value!r}")
    return value


def _check_keys(
    name: str, options: Mapping[str, Any], allowed: set[str], tz: str | None = None
) -> None:
    if not isinstance(options, Mapping):
        raise SchemaError(f"cron {name!r}: options must be a dict, got {options!r}")
    for key in options:
        if tz not in (None, "UTC") and _snake(key).endswith("_utc"):
            raise SchemaError(
                f"cron {name!r}: {key!r} says UTC but tz={tz!r} is given; use "
                f"{_snake(key).removesuffix('_utc')!r} for a time in {tz}"
            )
        base = _snake(key).removesuffix("_utc")
        if base not in allowed:
            raise SchemaError(f"cron {name!r}: unknown option {key!r} (allowed: {sorted(allowed)})")


class CronJobs:
    """The app's crons, by unique name."""

    def __init__(self) -> None:
        self._jobs: dict[str, CronJob] = {}

    def __iter__(self) -> Iterator[CronJob]:
        return iter(self._jobs.values())

    def __len__(self) -> int:
        return len(self._jobs)

    def __getitem__(self, name: str) -> CronJob:
        return self._jobs[name]

    def _add(
        self,
        name: str,
        schedule: Schedule,
        function: Any,
        args: Mapping[str, Any] | None,
        catch_up: CatchUp,
    ) -> None:
        if not isinstance(name, str) or not _PRINTABLE.match(name) or name != name.strip():
            raise SchemaError(f"cron name {name!r} must be 1-128 printable ASCII characters")
        if name.startswith(SYSTEM_CRON_PREFIX):
            raise SchemaError(f"cron {name!r}: names starting {SYSTEM_CRON_PREFIX!r} are reserved")
        if name in self._jobs:
            raise SchemaError(f"cron {name!r} is declared twice")
        if catch_up not in ("skip", "latest", "all"):
            raise SchemaError(f"cron {name!r}: catch_up must be 'skip', 'latest' or 'all'")
        if function is None:
            raise SchemaError(f"cron {name!r}: no function given")
        args = dict(args or {})
        check_value(args, f"cron {name!r} args")
        self._jobs[name] = CronJob(name, schedule, function, args, catch_up)

    def interval(
        self,
        name: str,
        every: Mapping[str, int],
        function: Any,
        args: Mapping[str, Any] | None = None,
        *,
        catch_up: CatchUp = "skip",
    ) -> None:
        """Every ``{"seconds": s, "minutes": m, "hours": h}`` (combined; at least 1 second)."""
        _check_keys(name, every, set(_UNITS_MS))
        total = 0
        for key, amount in every.items():
            if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
                raise SchemaError(f"cron {name!r}: {key} must be a non-negative integer")
            total += amount * _UNITS_MS[_snake(key)]
        if total < 1_000:
            raise SchemaError(f"cron {name!r}: an interval must be at least 1 second")
        self._add(name, IntervalSchedule(total), function, args, catch_up)

    def hourly(
        self,
        name: str,
        at: Mapping[str, int],
        function: Any,
        args: Mapping[str, Any] | None = None,
        *,
        tz: str | None = None,
        catch_up: CatchUp = "skip",
    ) -> None:
        """Every hour at ``{"minute_utc": m}``."""
        _check_keys(name, at, {"minute"}, tz)
        minute = _int(name, at, "minute", 0, 59, default=0)
        self._calendar(name, f"{minute} * * * *", tz, function, args, catch_up)

    def daily(
        self,
        name: str,
        at: Mapping[str, int],
        function: Any,
        args: Mapping[str, Any] | None = None,
        *,
        tz: str | None = None,
        catch_up: CatchUp = "skip",
    ) -> None:
        """Every day at ``{"hour_utc": h, "minute_utc": m}`` (or ``hour``/``minute`` with tz)."""
        _check_keys(name, at, {"hour", "minute"}, tz)
        hour, minute = _int(name, at, "hour", 0, 23), _int(name, at, "minute", 0, 59, default=0)
        self._calendar(name, f"{minute} {hour} * * *", tz, function, args, catch_up)

    def weekly(
        self,
        name: str,
        at: Mapping[str, Any],
        function: Any,
        args: Mapping[str, Any] | None = None,
        *,
        tz: str | None = None,
        catch_up: CatchUp = "skip",
    ) -> None:
        """Every week on ``{"day_of_week": "monday", "hour_utc": h, "minute_utc": m}``."""
        _check_keys(name, at, {"day_of_week", "hour", "minute"}, tz)
        day = next((v for k, v in at.items() if _snake(k) == "day_of_week"), None)
        if not isinstance(day, str) or day.lower() not in _DAYS:
            raise SchemaError(f"cron {name!r}: day_of_week must be one of {_DAYS}, got {day!r}")
        hour, minute = _int(name, at, "hour", 0, 23), _int(name, at, "minute", 0, 59, default=0)
        expression = f"{minute} {hour} * * {_DAYS.index(day.lower())}"
        self._calendar(name, expression, tz, function, args, catch_up)

    def monthly(
        self,
        name: str,
        at: Mapping[str, int],
        function: Any,
        args: Mapping[str, Any] | None = None,
        *,
        tz: str | None = None,
        catch_up: CatchUp = "skip",
    ) -> None:
        """Every month on ``{"day": d, "hour_utc": h, "minute_utc": m}``.

        A day a month does not have (31 in April) is skipped that month, as cron does.
        """
        _check_keys(name, at, {"day", "hour", "minute"}, tz)
        day = _int(name, at, "day", 1, 31)
        hour, minute = _int(name, at, "hour", 0, 23), _int(name, at, "minute", 0, 59, default=0)
        self._calendar(name, f"{minute} {hour} {day} * *", tz, function, args, catch_up)

    def cron(
        self,
        name: str,
        expression: str,
        function: Any,
        args: Mapping[str, Any] | None = None,
        *,
        tz: str | None = None,
        catch_up: CatchUp = "skip",
    ) -> None:
        """A standard 5-field cron expression (UTC unless ``tz`` names an IANA zone)."""
        if not isinstance(expression, str):
            raise SchemaError(f"cron {name!r}: the expression must be a string")
        self._calendar(name, expression.strip(), tz, function, args, catch_up)

    def _calendar(
        self,
        name: str,
        expression: str,
        tz: str | None,
        function: Any,
        args: Mapping[str, Any] | None,
        catch_up: CatchUp,
    ) -> None:
        zone(tz, name)
        schedule = CalendarSchedule(expression, tz or "UTC")
        schedule.validate(name)
        self._add(name, schedule, function, args, catch_up)
