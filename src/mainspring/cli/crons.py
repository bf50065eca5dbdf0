"""``mainspring crons ls``: each cron's schedule, next run and latest runs.

In-process against the configured database by default, or against a running deployment with
``--url`` and its admin key, through the built-in ``_system/crons:list`` function.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from .options import out, print_json
from .run import call_system_function, deployment_options

__all__ = ["crons"]

_STYLES = {
    "scheduled": "cyan",
    "running": "yellow",
    "success": "green",
    "failed": "red",
    "skipped": "dim",
    "canceled": "dim",
}


def _time(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _run(run: dict[str, Any]) -> str:
    state = str(run.get("state"))
    text = f"{_time(run.get('tick'))} [{_STYLES.get(state, 'dim')}]{state}[/]"
    if state == "skipped":
        missed = int(run.get("missed", 1))
        text += f" ({missed} tick{'s' if missed != 1 else ''}: {escape(str(run.get('reason')))})"
    elif run.get("startedTime") is not None and run.get("completedTime") is not None:
        text += f" in {float(run['completedTime']) - float(run['startedTime']):.0f} ms"
    if state == "failed":
        text += f": {escape(str(run.get('error', '')))}"
    return text


@click.group()
def crons() -> None:
    """Cron jobs (backend/crons.py)."""


@crons.command("ls")
@click.option(
    "--runs",
    type=click.IntRange(0, 50),
    default=3,
    show_default=True,
    envvar="MAINSPRING_CRONS_RUNS",
    show_envvar=True,
    help="How many of each cron's latest runs to show.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    envvar="MAINSPRING_CRONS_JSON",
    show_envvar=True,
    help="Print JSON instead of a table.",
)
@deployment_options
def crons_ls(runs: int, as_json: bool, url: str | None, **params: Any) -> None:
    """List crons: schedule, function, next run and latest runs (times in UTC)."""
    listed = call_system_function("_system/crons:list", {"runs": runs}, url, params)
    if as_json:
        print_json(listed)
        return
    if not listed:
        out.print(
            "no crons in the database (declare them in backend/crons.py; `mainspring dev`, "
            "`serve` and `worker` register them when they start)"
        )
        return
    table = Table(header_style="bold", title="times in UTC")
    table.add_column("name", overflow="fold")
    table.add_column("schedule", overflow="fold")
    table.add_column("function", overflow="fold")
    table.add_column("next run", no_wrap=True)
    if runs:
        table.add_column("latest runs", overflow="fold")
    for cron in listed:
        row = [
            escape(cron["name"]),
            escape(cron["schedule"])
            + ("" if cron["catchUp"] == "skip" else f", catch up {cron['catchUp']}"),
            escape(cron["function"]),
            _time(cron["nextRun"]),
        ]
        if runs:
            row.append("\n".join(_run(run) for run in cron["runs"]) or "[dim]none yet[/]")
        table.add_row(*row)
    out.print(table)
