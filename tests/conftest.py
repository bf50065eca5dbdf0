"""Shared fixtures: a database URL for each backend.

PostgreSQL is required, as in CI: when it is unreachable the PostgreSQL variants fail with a
message saying how to start it; they never skip. Each test gets a fresh schema ``t_<uuid>``
in ``MAINSPRING_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``),
dropped at teardown.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from mainspring.db.postgres import PostgresDatabase

POSTGRES_URL = os.environ.get(
    "MAINSPRING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_schema_url() -> Iterator[str]:
    admin, reason = None, ""
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        reason = str(exc)
    if admin is None:  # failed outside the except block: no chained traceback in the report
        where = PostgresDatabase(POSTGRES_URL).display_url
        pytest.fail(
            f"PostgreSQL is required and unreachable at {where}: {reason}\nStart it "
            "(e.g. pg_ctlcluster 15 main start) or set MAINSPRING_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    schema = f"t_{uuid.uuid4().hex[:16]}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}schema={schema}"
    finally:
        with admin:
            # A test that leaked a connection must not hang the run on the schema's locks.
            admin.execute("SET lock_timeout = '10s'")
            admin.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new schema on PostgreSQL."""
    if request.param == "sqlite":
        yield str(tmp_path / "db.sqlite3")
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema on PostgreSQL, for PostgreSQL-only tests (mark them ``postgres``)."""
    yield from _postgres_schema_url()


# -- hangs: pytest-timeout (pyproject) dumps the threads and ends the run; an idle event loop
# shows only ``select`` there, so every asyncio task's await chain is dumped just before.

_TASK_DUMP_LEAD_S = 2.0
_task_dump = pytest.StashKey[threading.Timer]()


def _first(obj: object, *names: str) -> Any:
    return next((v for n in names if (v := getattr(obj, n, None)) is not None), None)


def _dump_asyncio_tasks() -> None:
    """Each running loop's pending tasks, with the chain of awaits each is suspended in.

    Runs on a timer thread, best effort: the loop goes on meanwhile."""
    out = sys.__stderr__
    assert out is not None
    loops = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]
    for loop in (loop for loop in loops if loop.is_running()):
        print(f"+++ asyncio tasks of {loop!r}", file=out)
        for task in asyncio.all_tasks(loop):
            print(f"--- {task!r}", file=out)
            awaiting: Any = task.get_coro()
            while awaiting is not None:
                frame = _first(awaiting, "cr_frame", "gi_frame", "ag_frame")
                if frame is not None:
                    code = frame.f_code
                    print(f"    {code.co_filename}:{frame.f_lineno} in {code.co_name}", file=out)
                awaiting = _first(awaiting, "cr_await", "gi_yieldfrom", "ag_await")
    out.flush()


@pytest.hookimpl(optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> None:
    if settings.timeout > _TASK_DUMP_LEAD_S:
        timer = threading.Timer(settings.timeout - _TASK_DUMP_LEAD_S, _dump_asyncio_tasks)
        timer.daemon = True
        timer.start()
        item.stash[_task_dump] = timer
    # None: pytest-timeout's own timer is set up too.


@pytest.hookimpl(optionalhook=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> None:
    timer = item.stash.get(_task_dump, None)
    if timer is not None:
        timer.cancel()


@pytest.fixture(autouse=True)
def _collect_what_the_test_left() -> Iterator[None]:
    """Collect garbage after every test, so that a socket or transport a test leaked is
    reported (warnings are errors) against that test, not against whichever later test
    happens to trigger a collection."""
    yield
    gc.collect()
