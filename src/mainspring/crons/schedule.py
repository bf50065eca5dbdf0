"""When a cron fires: intervals and calendar schedules, time-zone and DST correct.

Calendar schedules (``hourly``, ``daily``, ``weekly``, ``monthly``, ``cron``) are evaluated by
cronsim in the schedule's IANA zone: a time the zone skips (02:30 on a spring-forward day)
fires once, at the first moment after the gap; a time the zone repeats (01:30 on a
fall-back day) fires once, at its first occurrence. Intervals are ticks ``anchor + k *
every`` from a fixed anchor, so every process computes the same ticks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from ..errors import SchemaError

__all__ = ["CalendarSchedule", "IntervalSchedule", "Schedule", "zone"]


def zone(name: str | None, cron: str) -> ZoneInfo:
    """The IANA zone ``name`` (UTC when None); SchemaError naming the cron if unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SchemaError(f"cron {cron!r}: unknown time zone {name!r}") from exc


@dataclass(frozen=True)
class IntervalSchedule:
    """Every ``every_ms`` milliseconds from ``anchor_ms`` (set when the cron is first seen)."""

    every_ms: int

    def describe(self) -> str:
        """Human-readable form for ``mainspring crons ls``."""
        seconds = self.every_ms // 1000
        parts = [(seconds // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
        return "every " + " ".join(f"{n}{unit}" for n, unit in parts if n)

    def next_after(self, after_ms: float, anchor_ms: float) -> float:
        """The first tick strictly after ``after_ms``."""
        if after_ms < anchor_ms:
            return anchor_ms
        ticks = int((after_ms - anchor_ms) // self.every_ms) + 1
        return anchor_ms + ticks * self.every_ms


@dataclass(frozen=True)
class CalendarSchedule:
    """A standard 5-field cron expression in an IANA time zone."""

    expression: str
    tz: str = "UTC"

    def validate(self, cron: str) -> None:
        """SchemaError naming ``cron`` if the expression or the zone is invalid."""
        tzinfo = zone(self.tz, cron)
        if len(self.expression.split()) != 5:
            raise SchemaError(
                f"cron {cron!r}: {self.expression!r} must have 5 fields "
                "(minute hour day-of-month month day-of-week)"
            )
        try:
            CronSim(self.expression, datetime(2000, 1, 1, tzinfo=tzinfo))
        except CronSimError as exc:
            raise SchemaError(
                f"cron {cron!r}: invalid expression {self.expression!r}: {exc}"
            ) from None

    def describe(self) -> str:
        """Human-readable form for ``mainspring crons ls``."""
        return f"{self.expression} ({self.tz})"

    def next_after(self, after_ms: float, anchor_ms: float = 0.0) -> float:
        """The first firing time strictly after ``after_ms``."""
        tzinfo = ZoneInfo(self.tz)
        start = datetime.fromtimestamp(after_ms / 1000.0, UTC).astimezone(tzinfo)
        # cronsim starts from the next whole minute after `start`, so strictly-after holds.
        fire = next(CronSim(self.expression, start))
        return fire.timestamp() * 1000.0


Schedule = IntervalSchedule | CalendarSchedule
