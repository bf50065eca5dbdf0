"""Crons in the test harness, on both databases: firing on schedule as virtual time moves,
time zones, reconciliation by name, catch-up policies, one run at a time, history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mainspring import CronJobs, SchemaError, internal
from mainspring.crons.tables import HISTORY, JOBS_TABLE, ON_TIME_MS
from mainspring.testing import TestApp
from tests.support.paths import APPS

APP = APPS / "cron_app" / "backend"
MINUTE = 60_000.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def utc(*fields: int) -> float:
    return datetime(*fields, tzinfo=UTC).timestamp() * 1000  # type: ignore[misc]


def record(name: str) -> tuple[Any, dict[str, str]]:
    return internal.ticks.record, {"cron": name}


async def cron_rows(t: TestApp) -> dict[str, dict[str, Any]]:
    async with t.runtime.read_snapshot() as reader:
        rows = await reader.system.query(JOBS_TABLE).collect()
    return {row["name"]: row for row in rows}


async def test_a_day_runs_a_quarter_hour_cron_96_times(database_url: str) -> None:
    async with TestApp(APP, database=database_url, start_ms=utc(2026, 1, 5)) as t:
        await t.set_env("LARK_TOKEN", "lark-secret")
        ran = await t.advance_time(DAY)
        assert await t.query("ticks:count", {"cron": "quarter hours"}) == 96
        assert await t.query("ticks:count", {"cron": "every 10m"}) == 144
        assert ran == 96 + 144  # scheduled functions run (not the mutation an action calls)
        times = await t.query("ticks:times", {"cron": "quarter hours"})
        assert times == [utc(2026, 1, 5) + 15 * MINUTE * k for k in range(1, 97)]
        ticks = await t.query("ticks:runs", {"cron": "quarter hours"})
        assert len(ticks) == min(96, HISTORY)
        assert {run["state"] for run in ticks} == {"success"}
        assert all(run["startedTime"] == run["tick"] for run in ticks)
    async with TestApp(APP, database=database_url, crons=False) as t:
        assert await t.advance_time(DAY) == 0  # crons=False: nothing fires


async def test_crons_run_without_identity_and_read_env(database_url: str) -> None:
    async with TestApp(APP, database=database_url, start_ms=utc(2026, 1, 5)) as t:
        await t.set_env("LARK_TOKEN", "lark-secret")
        await t.with_identity(subject="someone").advance_time(15 * MINUTE)
        async with t.runtime.read_snapshot() as reader:
            ticks = await reader.query("ticks").collect()
        assert sorted(tick["cron"] for tick in ticks) == ["every 10m", "quarter hours"]
        assert all(tick["identity"] is None for tick in ticks)  # the caller's is not passed on
        assert all(tick["token"] == "lark-secret" for tick in ticks)


@pytest.mark.parametrize(
    ("zone", "at", "start", "expected"),
    [
        # Berlin springs forward at 02:00 on 31 March 2024: 02:30 does not exist that day.
        ("Europe/Berlin", "30 2 * * *", utc(2024, 3, 30, 12), [
            utc(2024, 3, 31, 1, 0), utc(2024, 4, 1, 0, 30), utc(2024, 4, 2, 0, 30),
        ]),
        # ... and falls back at 03:00 on 27 October: 02:30 happens twice; it runs once.
        ("Europe/Berlin", "30 2 * * *", utc(2024, 10, 26, 12), [
            utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30), utc(2024, 10, 29, 1, 30),
        ]),
        # New York: 01:30 repeats on 3 November 2024; 02:30 is skipped on 10 March.
        ("America/New_York", "30 1 * * *", utc(2024, 11, 2, 12), [
            utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30), utc(2024, 11, 5, 6, 30),
        ]),
        ("America/New_York", "30 2 * * *", utc(2024, 3, 9, 12), [
            utc(2024, 3, 10, 7, 0), utc(2024, 3, 11, 6, 30), utc(2024, 3, 12, 6, 30),
        ]),
        # Lord Howe shifts by half an hour (02:00 -> 02:30 on 6 October 2024).
        ("Australia/Lord_Howe", "15 2 * * *", utc(2024, 10, 5, 0), [
            utc(2024, 10, 5, 15, 30), utc(2024, 10, 6, 15, 15), utc(2024, 10, 7, 15, 15),
        ]),
    ],
)  # fmt: skip
async def test_daylight_saving_days_run_once(
    database_url: str, zone: str, at: str, start: float, expected: list[float]
) -> None:
    crons = CronJobs()
    crons.cron("local", at, *record("local"), tz=zone)
    async with TestApp(APP, database=database_url, start_ms=start, crons=crons) as t:
        await t.advance_time(3 * DAY)
        assert await t.query("ticks:times", {"cron": "local"}) == expected


async def test_calendar_helpers_fire_on_their_days(database_url: str) -> None:
    crons = CronJobs()
    crons.hourly("hourly", {"minuteUTC": 5}, *record("hourly"))
    crons.weekly("weekly", {"dayOfWeek": "monday", "hourUTC": 9, "minuteUTC": 0}, *record("weekly"))
    crons.monthly("monthly", {"day": 1, "hourUTC": 0, "minuteUTC": 0}, *record("monthly"))
    start = utc(2026, 1, 25)  # a Sunday
    async with TestApp(APP, database=database_url, start_ms=start, crons=crons) as t:
        await t.advance_time(14 * DAY)
        assert await t.query("ticks:times", {"cron": "weekly"}) == [
            utc(2026, 1, 26, 9),
            utc(2026, 2, 2, 9),
        ]
        assert await t.query("ticks:times", {"cron": "monthly"}) == [utc(2026, 2, 1)]
        assert await t.query("ticks:count", {"cron": "hourly"}) == 14 * 24


async def test_reconciliation_adds_updates_and_removes_by_name(tmp_path: Path) -> None:
    database = str(tmp_path / "db.sqlite3")
    first = CronJobs()
    first.interval("kept", {"minutes": 5}, *record("kept"))
    first.interval("changed", {"minutes": 5}, *record("changed"))
    first.interval("args only", {"minutes": 5}, *record("args only"))
    first.interval("removed", {"minutes": 5}, *record("removed"))
    async with TestApp(APP, database=database, crons=first) as t:
        await t.advance_time(12 * MINUTE)  # two runs each
        before = await cron_rows(t)
        end = t.clock.now_ms()
    second = CronJobs()
    second.interval("kept", {"minutes": 5}, *record("kept"))
    second.interval("changed", {"minutes": 7}, *record("changed"))
    second.interval("args only", {"minutes": 5}, internal.ticks.record, {"cron": "renamed"})
    second.interval("added", {"minutes": 5}, *record("added"))
    async with TestApp(APP, database=database, crons=second, start_ms=end) as t:
        assert t.crons is not None
        again = await t.crons.reconcile()  # the start-up one already applied everything
        assert (again.added, again.updated, again.removed, again.unchanged) == ([], [], [], 4)
        after = await cron_rows(t)
        assert set(after) == {"kept", "changed", "args only", "added"}
        assert after["kept"]["nextRun"] == before["kept"]["nextRun"]
        assert after["args only"]["nextRun"] == before["args only"]["nextRun"]
        assert after["args only"]["args"] == {"cron": "renamed"}
        assert after["changed"]["nextRun"] == end + 7 * MINUTE  # recomputed from the change
        assert after["added"]["nextRun"] == end + 5 * MINUTE
        assert await t.query("ticks:runs", {"cron": "removed"}) == []  # its history went too
        assert len(await t.query("ticks:runs", {"cron": "kept"})) == 2


async def test_reconciliation_logs_each_change(tmp_path: Path, caplog: Any) -> None:
    crons = CronJobs()
    crons.cron("digest", "0 9 * * mon", *record("digest"), tz="Europe/Berlin")
    with caplog.at_level("INFO", logger="mainspring.crons"):
        async with TestApp(
            APP, database=str(tmp_path / "db"), crons=crons, start_ms=utc(2026, 1, 1)
        ):
            pass
    assert (
        "cron 'digest' added: 0 9 * * mon (Europe/Berlin), next run 2026-01-05 08:00:00 UTC"
        in caplog.text
    )


@pytest.mark.parametrize(
    ("catch_up", "late", "fired", "skipped"),
    [
        ("skip", 30_000.0, 1, 9),  # the latest tick is on time: it runs, the 9 missed skip
        ("skip", 150_000.0, 0, 10),  # too late (> ON_TIME_MS): all of them skip
        ("latest", 150_000.0, 1, 9),
        ("all", 150_000.0, 10, 0),
    ],
)
async def test_missed_ticks_follow_the_catch_up_policy(
    database_url: str, catch_up: Any, late: float, fired: int, skipped: int
) -> None:
    assert (late > ON_TIME_MS) == (fired == 0 or catch_up != "skip")
    crons = CronJobs()
    crons.cron("five", "*/5 * * * *", *record("five"), catch_up=catch_up)
    start = utc(2026, 3, 1)
    async with TestApp(APP, database=database_url, start_ms=start, crons=crons) as t:
        # Nothing ran for fifty minutes and a bit (the process was down).
        t.clock.set(start + 50 * MINUTE + late)
        await t.finish_in_progress_scheduled()
        assert await t.query("ticks:count", {"cron": "five"}) == fired
        runs = await t.query("ticks:runs", {"cron": "five"})
        assert sum(r["missed"] for r in runs if r["state"] == "skipped") == skipped
        assert sum(1 for r in runs if r["state"] == "success") == fired
        if catch_up == "all":
            times = await t.query("ticks:times", {"cron": "five"})
            assert times == [start + 50 * MINUTE + late] * 10  # one after another, at once
            assert [r["tick"] for r in runs] == [start + k * 5 * MINUTE for k in range(1, 11)]
        # Afterwards it is back on schedule.
        await t.advance_time(5 * MINUTE)
        assert await t.query("ticks:count", {"cron": "five"}) == fired + 1


async def test_a_tick_arriving_while_the_previous_run_goes_on_is_skipped(
    database_url: str,
) -> None:
    crons = CronJobs()
    crons.cron("minutely", "* * * * *", *record("minutely"))
    start = utc(2026, 3, 1)
    async with TestApp(APP, database=database_url, start_ms=start, crons=crons) as t:
        assert t.crons is not None
        t.clock.set(start + MINUTE)
        assert await t.crons.fire_due() == 1  # scheduled, but nobody runs it yet
        assert await t.crons.fire_due() == 0  # the same tick never fires twice
        t.clock.set(start + 2 * MINUTE)
        assert await t.crons.fire_due() == 0
        runs = await t.query("ticks:runs", {"cron": "minutely"})
        assert [(r["state"], r.get("reason")) for r in runs] == [
            ("scheduled", None),
            ("skipped", "the previous run was still running"),
        ]
        await t.finish_in_progress_scheduled()
        assert await t.query("ticks:count", {"cron": "minutely"}) == 1
        await t.advance_time(MINUTE)
        assert await t.query("ticks:count", {"cron": "minutely"}) == 2


async def test_history_keeps_the_latest_runs(tmp_path: Path) -> None:
    crons = CronJobs()
    crons.interval("fast", {"seconds": 1}, *record("fast"))
    async with TestApp(APP, database=str(tmp_path / "db"), crons=crons) as t:
        await t.advance_time((HISTORY + 10) * 1000)
        runs = await t.query("ticks:runs", {"cron": "fast"})
        assert len(runs) == HISTORY
        assert runs[-1]["tick"] == t.clock.now_ms()
        assert (await cron_rows(t))["fast"]["kept"] == HISTORY
        [listed] = await t.runtime.call("_system/crons:list", {"runs": 3})
        assert listed["schedule"] == "every 1s"
        assert [r["tick"] for r in listed["runs"]] == [
            runs[-1]["tick"] - k * 1000 for k in range(3)
        ]


async def test_a_failing_cron_records_the_error_and_keeps_going(database_url: str) -> None:
    crons = CronJobs()
    crons.interval("broken", {"minutes": 1}, internal.ticks.fail, {"cron": "broken"})
    async with TestApp(APP, database=database_url, crons=crons) as t:
        assert await t.advance_time(3 * MINUTE) == 3
        runs = await t.query("ticks:runs", {"cron": "broken"})
        assert [r["state"] for r in runs] == ["failed"] * 3
        assert runs[0]["error"] == "RuntimeError: broken is broken"
        assert await t.query("ticks:count", {"cron": "broken"}) == 0  # rolled back each time


async def test_wrong_argument_types_fail_at_start(tmp_path: Path) -> None:
    crons = CronJobs()
    crons.interval("broken", {"minutes": 1}, internal.ticks.record, {"cron": 5})
    with pytest.raises(SchemaError, match=r"cron 'broken': .*cron"):
        async with TestApp(APP, database=str(tmp_path / "db"), crons=crons):
            pass


@pytest.mark.parametrize(
    ("function", "args", "message"),
    [
        (internal.ticks.nothing_here, {}, "cron 'c': no function at 'ticks:nothing_here'"),
        ("ticks:count", {"cron": "x"}, "cron 'c': ticks:count is a query"),
        (internal.ticks.record, {}, "cron 'c': .*cron"),
        (internal.ticks.record, {"cron": "x", "extra": 1}, "cron 'c': .*extra"),
    ],
)
async def test_bad_function_or_arguments_fail_at_start_naming_the_cron(
    tmp_path: Path, function: Any, args: dict[str, Any], message: str
) -> None:
    crons = CronJobs()
    crons.interval("c", {"minutes": 1}, function, args)
    with pytest.raises(SchemaError, match=message):
        async with TestApp(APP, database=str(tmp_path / "db"), crons=crons):
            pass
