"""When a cron fires: intervals and calendar schedules, time-zone and DST correct.

Calendar schedules (``hourly``, ``daily``, ``weekly``, ``monthly``, ``cron``) are evaluated by
cronsim in the schedule's IANA zone: a time the zone skips (02:30 on a spring-forward day)
fires once, at the first moment after the gap; a time the zone repeats (01:30 on a
fall-back day) fires once, at its first occurrence. Intervals are ticks ``anchor + k *
every`` from a fixed anchor, so every process computes the same ticks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from ..errors import SchemaError

__all__ = ["CalendarSchedule", "IntervalSchedule", "Schedule", "schedule_from_json", "zone"]


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

    def to_json(self) -> dict[str, Any]:
        """How the schedule is stored in ``_cron_jobs``."""
        return {"kind": "interval", "everyMs": self.every_ms}

    def next_after(self, after_ms: float, anchor_ms: float) -> float:
        """The first tick strictly after ``after_ms``."""
        if after_ms < anchor_ms:
            return anchor_ms
        ticks = int((after_ms - anchor_ms) // self.every_ms) + 1
        return anchor_ms + ticks * self.every_ms

    def latest_at_or_before(self, at_ms: float, anchor_ms: float) -> float | None:
        """The last tick at or before ``at_ms`` (None before the anchor)."""
        if at_ms < anchor_ms:
            return None
        return anchor_ms + math.floor((at_ms - anchor_ms) / self.every_ms) * self.every_ms

    def count_between(self, start_ms: float, end_ms: float, anchor_ms: float, cap: int) -> int:
        """How many ticks fall in ``[start_ms, end_ms)`` (at most ``cap``)."""
        if end_ms <= start_ms:
            return 0
        first = self.next_after(start_ms - 0.5, anchor_ms)
        if first >= end_ms:
            return 0
        return min(cap, int((end_ms - first - 0.5) // self.every_ms) + 1)


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

    def to_json(self) -> dict[str, Any]:
        """How the schedule is stored in ``_cron_jobs``."""
        return {"kind": "calendar", "expression": self.expression, "tz": self.tz}

    def _iterate(self, from_ms: float, *, reverse: bool = False) -> Iterator[datetime]:
        start = datetime.fromtimestamp(from_ms / 1000.0, UTC).astimezone(ZoneInfo(self.tz))
        return iter(CronSim(self.expression, start, reverse=reverse))

    def next_after(self, after_ms: float, anchor_ms: float = 0.0) -> float:
        """The first firing time strictly after ``after_ms``."""
        # cronsim starts from the next whole minute after `start`, so strictly-after holds.
        return next(self._iterate(after_ms)).timestamp() * 1000.0

    def latest_at_or_before(self, at_ms: float, anchor_ms: float = 0.0) -> float | None:
        """The last firing time at or before ``at_ms``."""
        # Reversed, cronsim yields times strictly before its start, and firing times are
        # whole minutes: starting one second past `at_ms` (floored) includes `at_ms` itself
        # and nothing later.
        start = math.floor(at_ms / 1000.0) * 1000.0 + 1000.0
        try:
            return next(self._iterate(start, reverse=True)).timestamp() * 1000.0
        except StopIteration:
            return None

    def count_between(self, start_ms: float, end_ms: float, anchor_ms: float, cap: int) -> int:
        """How many firing times fall in ``[start_ms, end_ms)`` (at most ``cap``)."""
        count = 0
        for fire in self._iterate(start_ms - 1.0):
            if count >= cap or fire.timestamp() * 1000.0 >= end_ms:
                break
            count += 1
        return count


Schedule = IntervalSchedule | CalendarSchedule


def schedule_from_json(stored: Mapping[str, Any]) -> Schedule:
    """The schedule a ``_cron_jobs`` row stores (the inverse of ``to_json``)."""
    if stored.get("kind") == "interval":
        return IntervalSchedule(int(stored["everyMs"]))
    return CalendarSchedule(str(stored["expression"]), str(stored.get("tz", "UTC")))
