"""Database backends and the document layer over them."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigurationError
from .base import Database

__all__ = ["Database", "open_database"]


def open_database(url: str | Path) -> Database:
    """A backend for ``url``: ``postgresql://…``, ``sqlite:///path`` or a plain file path."""
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        try:
            from .postgres import PostgresDatabase
        except ImportError as exc:
            raise ConfigurationError(
                "PostgreSQL support needs the postgres extra: pip install 'mainspring[postgres]'"
            ) from exc
        return PostgresDatabase(text)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        raise ConfigurationError(
            f"unsupported database URL {text!r}: use postgresql://… or a SQLite file path"
        )
    from .sqlite import SqliteDatabase

    return SqliteDatabase(text)
