"""``mainspring data [TABLE]`` and ``mainspring admin-key``: look into a deployment.

Both read the configured database directly (no server needed); neither imports the app's
functions. ``data`` lists the tables with their document counts, or prints a table's newest
documents as a rich table (or ``--json``).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from .. import values
from ..clock import SystemClock
from ..config import Settings
from ..db.base import Transaction
from ..db.store import CREATION_INDEX, Catalog, DocumentReader, DocumentStore
from ..errors import ConfigurationError
from ..registry import FunctionRegistry, LoadedApp
from ..runtime import Runtime
from .options import COMMON, out, print_json, resolve_settings, setting_options

__all__ = ["admin_key", "data"]

_CELL = 60


async def _count(tx: Transaction, catalog: Catalog, number: int) -> int:
    index = catalog.indexes.get((number, CREATION_INDEX))
    if index is None:
        return 0
    total, lo = 0, b""
    while rows := await tx.scan(index.id, lo, None, False, 1000):
        total += len(rows)
        lo = rows[-1][0] + b"\x00"
    return total


async def _read(settings: Settings, table: str | None, limit: int) -> Any:
    database = settings.open_database()
    await database.open()
    try:
        async with database.transaction(write=False) as tx:
            catalog = await Catalog.load(tx)
            if table is None:
                return {name: await _count(tx, catalog, n) for name, n in catalog.numbers.items()}
            if table not in catalog.numbers:
                known = ", ".join(sorted(catalog.numbers)) or "none"
                raise ConfigurationError(f"no table {table!r} (tables: {known})")
            store = DocumentStore(database, SystemClock())
            store.catalog = catalog
            reader = DocumentReader(store, tx, system=table.startswith("_"))
            return await reader.query(table).order("desc").take(limit)
    finally:
        await database.close()


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(values.to_json(value))
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def _print_tables(counts: dict[str, int]) -> None:
    table = Table("table", "documents", box=None, header_style="bold")
    for name in sorted(counts, key=lambda n: (n.startswith("_"), n)):
        style = "dim" if name.startswith("_") else None
        table.add_row(escape(name), str(counts[name]), style=style)
    out.print(table)


def _print_documents(name: str, documents: list[dict[str, Any]]) -> None:
    if not documents:
        out.print(f"{escape(name)}: no documents")
        return
    fields: dict[str, None] = {}
    for document in documents:
        fields.update(dict.fromkeys(k for k in document if not k.startswith("_")))
    table = Table("_id", "_creationTime", *fields, header_style="bold", title=name)
    for document in documents:
        created = datetime.fromtimestamp(document["_creationTime"] / 1000).isoformat(
            sep=" ", timespec="seconds"
        )
        cells = [_cell(document[f]) if f in document else "" for f in fields]
        table.add_row(document["_id"], created, *(escape(c) for c in cells))
    out.print(table)


@click.command()
@click.argument("table", required=False)
@setting_options(*COMMON)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    envvar="MAINSPRING_DATA_LIMIT",
    show_envvar=True,
    help="How many documents to show (newest first).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    envvar="MAINSPRING_DATA_JSON",
    show_envvar=True,
    help="Print JSON instead of a table.",
)
def data(table: str | None, limit: int, as_json: bool, **params: Any) -> None:
    """List the tables with their document counts, or show TABLE's newest documents."""
    settings = resolve_settings(params)
    if not settings.is_postgres and not Path(settings.db_url).exists():
        raise ConfigurationError(
            f"no database at {settings.db_url} yet: start the app once (mainspring dev)"
        )
    result = asyncio.run(_read(settings, table, limit))
    if as_json:
        print_json(result)
    elif table is None:
        _print_tables(result)
    else:
        _print_documents(table, result)


async def _admin_key(settings: Settings) -> str:
    if settings.admin_key:
        return settings.admin_key
    runtime = Runtime(LoadedApp(None, FunctionRegistry()), settings.open_database())
    await runtime.start()  # reads the key, or creates it on a fresh deployment
    await runtime.stop()
    assert runtime.admin_key is not None
    return runtime.admin_key


@click.command("admin-key")
@setting_options(*COMMON)
def admin_key(**params: Any) -> None:
    """Print the deployment's admin key (for `run --url`, scripts and the dashboard)."""
    click.echo(asyncio.run(_admin_key(resolve_settings(params))))
