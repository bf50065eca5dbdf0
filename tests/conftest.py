"""Shared fixtures: a database URL for each backend.

PostgreSQL is required, as in CI: when it is unreachable the PostgreSQL variants fail with a
message saying how to start it; they never skip. Each test gets a fresh schema ``t_<uuid>``
in ``MAINSPRING_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``),
dropped at teardown.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

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
