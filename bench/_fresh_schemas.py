"""Fresh databases for benchmark runs: a SQLite file or a PostgreSQL schema each time, all
dropped at the end (``drop``)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path


class FreshSchemas:
    """A new SQLite file or PostgreSQL schema (of database ``pg``) per measurement."""

    def __init__(self, pg: str, prefix: str) -> None:
        self.pg = pg
        self.prefix = prefix
        self.work = Path(tempfile.mkdtemp(prefix=f"{prefix.replace('_', '-')}-"))
        self.schemas: list[str] = []

    def fresh(self, backend: str, application: str | None = None) -> str:
        """A database URL or SQLite path; ``application`` names PostgreSQL's connections."""
        if backend == "sqlite":
            return str(Path(tempfile.mkdtemp(dir=self.work)) / "db.sqlite3")
        schema = f"{self.prefix}_{uuid.uuid4().hex[:8]}"
        self.schemas.append(schema)
        extra = f"&application_name={application}" if application else ""
        return f"{self.pg}{'&' if '?' in self.pg else '?'}schema={schema}{extra}"

    def drop(self) -> None:
        """Drop every schema made and remove the SQLite files."""
        if self.schemas:
            import psycopg

            with psycopg.connect(self.pg, autocommit=True) as conn:
                for schema in self.schemas:
                    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        shutil.rmtree(self.work, ignore_errors=True)
