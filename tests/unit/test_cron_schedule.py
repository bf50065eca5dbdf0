"""Cron schedule math: against an independent implementation (croniter) and across DST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from mainspring import SchemaError, internal
from mainspring.crons.jobs import CronJobs
from mainspring.crons.schedule import CalendarSchedule, IntervalSchedule


def field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    return st.one_of(
        st.just("*"),
        number.map(str),
        st.tuples(number, number).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.integers(1, max(1, (high - low) // 2)).map(lambda step: f"*/{step}"),
        st.lists(number, min_size=2, max_size=4, unique=True).map(
            lambda xs: ",".join(map(str, sorted(xs)))
        ),
    )


expressions = st.tuples(field(0, 59), field(0, 23), field(1, 28), field(1, 12), field(0, 6)).map(
    " ".join
)
instants = st.integers(
    int(datetime(2020, 1, 1, tzinfo=UTC).timestamp()),
    int(datetime(2030, 1, 1, tzinfo=UTC).timestamp()),
)


def _values(text: str, low: int, high: int) -> set[int]:
    found: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            start, end = map(int, base.split("-"))
        else:
            start = end = int(base)
        found.update(range(start, end + 1, int(step or 1)))
    return found


def brute_force_next(expression: str, after: datetime) -> datetime:
    """The plain reading of cron: walk day by day, then hour and minute (UTC)."""
    minute, hour, dom, month, dow = expression.split()
    minutes, hours = _values(minute, 0, 59), _values(hour, 0, 23)
    doms, months, dows = _values(dom, 1, 31), _values(month, 1, 12), _values(dow, 0, 6)
    day = after.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(30 * 366):  # a weekday on given dates can take a decade to recur
        by_dom, by_dow = day.day in doms, (day.isoweekday() % 7) in dows
        # Both restricted: either may match (Vixie cron; a field starting with '*', like
        # '*/2', counts as unrestricted); otherwise both must.
        restricted = not dom.startswith("*") and not dow.startswith("*")
        day_ok = (by_dom or by_dow) if restricted else (by_dom and by_dow)
        if day.month in months and day_ok:
            for h in sorted(hours):
                for m in sorted(minutes):
                    candidate = day.replace(hour=h, minute=m)
                    if candidate > after:
                        return candidate
        day = datetime.fromtimestamp(day.timestamp() + 86_400, UTC)
    raise AssertionError(f"{expression} never fires")


@settings(max_examples=400, deadline=None)
@given(expressions, instants)
def test_next_firing_matches_a_brute_force_reading(expression: str, instant: int) -> None:
    ours = CalendarSchedule(expression).next_after(instant * 1000.0)
    oracle = brute_force_next(expression, datetime.fromtimestamp(instant, UTC))
    assert ours == oracle.timestamp() * 1000.0, expression


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(field(0, 59), field(0, 23), st.just("*"), field(1, 12), st.just("*")).map(" ".join),
    instants,
)
def test_next_firing_matches_croniter_in_utc(expression: str, instant: int) -> None:
    # A second, independent implementation (croniter), on the fields where it is reliable
    # (it reads a one-value range such as '0-0' as '*').
    expression = " ".join(
        part.split("-")[0] if "-" in part and len(set(part.split("-"))) == 1 else part
        for part in expression.split()
    )
    ours = CalendarSchedule(expression).next_after(instant * 1000.0)
    oracle = croniter(expression, datetime.fromtimestamp(instant, UTC)).get_next(datetime)
    assert ours == oracle.timestamp() * 1000.0, expression


def ms(text: str, tz: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000.0


def firings(schedule: CalendarSchedule, start: float, end: float) -> list[str]:
    out, t = [], start
    while (t := schedule.next_after(t)) <= end:
        out.append(datetime.fromtimestamp(t / 1000, ZoneInfo(schedule.tz)).isoformat())
    return out


@pytest.mark.parametrize(
    ("tz", "spring_day", "fall_day"),
    [
        ("Europe/Berlin", "2026-03-29", "2026-10-25"),
        ("America/New_York", "2026-03-08", "2026-11-01"),
        ("Australia/Sydney", "2026-10-04", "2026-04-05"),
    ],
)
def test_daily_jobs_fire_once_on_dst_days(tz: str, spring_day: str, fall_day: str) -> None:
    # 02:30 does not exist on the spring-forward day: it fires once, right after the gap.
    skipped = CalendarSchedule("30 2 * * *", tz)
    fired = firings(skipped, ms(f"{spring_day}T00:00", tz), ms(f"{spring_day}T23:59", tz))
    assert len(fired) == 1 and fired[0].startswith(f"{spring_day}T03:")
    # 01:30 happens twice on the fall-back day: it fires once.
    repeated = CalendarSchedule("30 1 * * *", tz)
    fired = firings(repeated, ms(f"{fall_day}T00:00", tz), ms(f"{fall_day}T23:59", tz))
    assert len(fired) == 1


def test_every_fifteen_minutes_is_96_a_day() -> None:
    start = ms("2026-06-01T00:00", "UTC")
    assert len(firings(CalendarSchedule("*/15 * * * *"), start, start + 86_400_000)) == 96


def test_interval_ticks_are_anchored() -> None:
    schedule = IntervalSchedule(90_000)
    assert schedule.next_after(999.0, anchor_ms=1000.0) == 1000.0
    assert schedule.next_after(1000.0, anchor_ms=1000.0) == 91_000.0
    assert schedule.next_after(90_999.0, anchor_ms=1000.0) == 91_000.0
    assert schedule.describe() == "every 1m 30s"


def test_seed_declarations() -> None:
    crons = CronJobs()
    crons.interval("cleanup temp files", {"minutes": 1}, internal.cleanup.temp_files, {})
    crons.interval("sync external data", {"hours": 1}, internal.sync.external_data)
    crons.daily("daily report", {"hourUTC": 0, "minuteUTC": 0}, internal.reports.generate_daily)
    crons.weekly(
        "weekly digest",
        {"dayOfWeek": "monday", "hourUTC": 9, "minuteUTC": 0},
        internal.emails.send_weekly_digest,
    )
    crons.monthly("monthly billing", {"day": 1, "hour_utc": 0, "minute_utc": 0}, internal.b.m)
    crons.cron("check for updates", "*/15 * * * *", internal.updates.check)
    crons.interval("combined", {"hours": 1, "minutes": 30}, internal.x.y)
    crons.hourly("hourly", {"minute_utc": 5}, internal.x.y)
    crons.cron("berlin", "0 9 * * mon", internal.x.y, tz="Europe/Berlin")
    assert len(crons) == 9
    assert crons["weekly digest"].schedule == CalendarSchedule("0 9 * * 1")
    assert crons["combined"].schedule == IntervalSchedule(5_400_000)
    monday = crons["berlin"].schedule.next_after(ms("2026-07-01T00:00", "UTC"))
    assert datetime.fromtimestamp(monday / 1000, ZoneInfo("Europe/Berlin")).hour == 9


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda c: c.interval("a", {"seconds": 0}, internal.x.y), "at least 1 second"),
        (lambda c: c.interval("a", {"days": 1}, internal.x.y), "unknown option 'days'"),
        (lambda c: c.daily("a", {"hour_utc": 24}, internal.x.y), "hour must be an integer 0-23"),
        (lambda c: c.daily("a", {"hour_utc": 1, "minute_utc": 60}, internal.x.y), "0-59"),
        (lambda c: c.monthly("a", {"day": 32, "hour_utc": 0}, internal.x.y), "1-31"),
        (
            lambda c: c.weekly("a", {"day_of_week": "funday", "hour_utc": 1}, internal.x.y),
            "day_of_week",
        ),
        (lambda c: c.cron("a", "61 * * * *", internal.x.y), "invalid expression"),
        (lambda c: c.cron("a", "* * *", internal.x.y), "5 fields"),
        (lambda c: c.cron("a", "* * * * *", internal.x.y, tz="Mars/Olympus"), "unknown time zone"),
        (lambda c: c.cron("bad\nname", "* * * * *", internal.x.y), "printable"),
        (lambda c: c.cron("a", "* * * * *", internal.x.y, {"when": {1, 2}}), "not a Convex value"),
        (
            lambda c: c.daily("a", {"hour_utc": 9}, internal.x.y, tz="Europe/Berlin"),
            "'hour_utc' says UTC but tz='Europe/Berlin'",
        ),
        (lambda c: c.daily("a", {"hour": 1, "hourUTC": 2}, internal.x.y), "'hour' is given twice"),
        (lambda c: c.cron("_system/a", "* * * * *", internal.x.y), "reserved"),
    ],
)
def test_declarations_are_validated_naming_the_cron(declare: Any, message: str) -> None:
    with pytest.raises(Exception, match=message) as caught:
        declare(CronJobs())
    assert "'a'" in str(caught.value) or "name" in str(caught.value) or "args" in str(caught.value)


def test_duplicate_names_are_refused() -> None:
    crons = CronJobs()
    crons.cron("same", "* * * * *", internal.x.y)
    with pytest.raises(SchemaError, match="declared twice"):
        crons.cron("same", "0 * * * *", internal.x.y)
