"""``mainspring init [DIR]``: scaffold an app that ``mainspring dev`` can serve at once."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from .options import err

__all__ = ["TEMPLATES", "init"]

_TOML = """\
# Mainspring settings for this app.
# Precedence: command-line flag > MAINSPRING_* environment variable > this file > default.
# `mainspring serve --help` lists every setting and its variable.

functions_dir = "backend"

# The embedded default keeps the database under .mainspring/ (delete it for a fresh start):
# db_url = "postgresql://user@localhost:5432/myapp"
# port = 3210
"""

_SCHEMA = '''\
"""The app's tables, declared once with type hints: validated on every write."""

from __future__ import annotations

from mainspring import Schema, Table


class Tasks(Table, indexes={"by_done": ["done"]}):
    text: str
    done: bool


schema = Schema(tasks=Tasks)
'''

_TASKS = '''\
"""Tasks: a query and two mutations. Call them as tasks:list, tasks:add, tasks:complete."""

from __future__ import annotations

from typing import Any

from mainspring import AppError, Id, mutation, query


@query
async def list(ctx: Any, done: bool | None = None) -> list[dict[str, Any]]:
    """Every task, newest first; only the finished (or unfinished) ones if ``done`` is given."""
    tasks = ctx.db.query("tasks")
    if done is not None:
        tasks = ctx.db.query("tasks").with_index("by_done", lambda q: q.eq("done", done))
    return await tasks.order("desc").collect()


@mutation
async def add(ctx: Any, text: str) -> Id["tasks"]:
    """Add a task; returns its id."""
    print(f"adding {text!r}")
    return await ctx.db.insert("tasks", {"text": text, "done": False})


@mutation
async def complete(ctx: Any, id: Id["tasks"]) -> None:
    """Mark a task done."""
    if await ctx.db.get(id) is None:
        raise AppError({"code": "NOT_FOUND", "id": id})
    await ctx.db.patch(id, {"done": True})
'''

#: Files ``init`` writes, relative to the new app folder.
TEMPLATES: dict[str, str] = {
    "mainspring.toml": _TOML,
    "backend/schema.py": _SCHEMA,
    "backend/tasks.py": _TASKS,
}
_IGNORE = ".mainspring/"


@click.command()
@click.argument("directory", default=".", required=False, type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """Create an app in DIRECTORY (default: here): settings, a schema and example functions.

    Existing files are never overwritten; .gitignore gets a .mainspring/ line if it lacks one.
    """
    root = Path(directory)
    existing = [name for name in TEMPLATES if (root / name).exists()]
    if existing:
        raise click.ClickException(
            f"{', '.join(str(root / name) for name in existing)} already exist(s); "
            "nothing was written"
        )
    for name, text in TEMPLATES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        err.print(f"  created {escape(str(path))}")
    ignore = root / ".gitignore"
    existed = ignore.exists()
    lines = ignore.read_text(encoding="utf-8").splitlines() if existed else []
    if not any(line.strip().rstrip("/") in (".mainspring", "/.mainspring") for line in lines):
        with ignore.open("a", encoding="utf-8") as file:
            if lines and lines[-1].strip():
                file.write("\n")
            file.write(f"# Mainspring's local deployment (database, files, admin key)\n{_IGNORE}\n")
        err.print(f"  {'updated' if existed else 'created'} {escape(str(ignore))}")
    where = "" if root.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    err.print("\n[bold]Next:[/]")
    err.print(f"  {escape(where)}mainspring dev")
    err.print("""  mainspring run tasks:add '{"text": "Write docs"}'""")
    err.print("  mainspring data tasks")
