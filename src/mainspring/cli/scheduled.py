"""``mainspring scheduled ls | cancel``: look at and cancel scheduled functions.

In-process against the configured database by default, or against a running deployment with
``--url`` and its admin key, through the built-in ``_system/scheduler:*`` functions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ..scheduling.jobs import STATES
from .options import out, print_json
from .run import call_system_function, deployment_options

__all__ = ["scheduled"]

_STYLES = {"pending": "cyan", "inProgress": "yellow", "success": "green", "failed": "red"}


def _time(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


@click.group()
def scheduled() -> None:
    """Scheduled functions (ctx.scheduler.run_after / run_at)."""


@scheduled.command("ls")
@click.option(
    "--function",
    "function",
    metavar="PATH",
    envvar="MAINSPRING_SCHEDULED_FUNCTION",
    show_envvar=True,
    help="Only this function (module:name).",
)
@click.option(
    "--state",
    type=click.Choice(STATES),
    envvar="MAINSPRING_SCHEDULED_STATE",
    show_envvar=True,
    help="Only rows in this state.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    envvar="MAINSPRING_SCHEDULED_LIMIT",
    show_envvar=True,
    help="How many rows to show.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    envvar="MAINSPRING_SCHEDULED_JSON",
    show_envvar=True,
    help="Print JSON instead of a table.",
)
@deployment_options
def scheduled_ls(
    function: str | None,
    state: str | None,
    limit: int,
    as_json: bool,
    url: str | None,
    **params: Any,
) -> None:
    """List scheduled functions, newest first."""
    args: dict[str, Any] = {"limit": limit}
    if function:
        args["function"] = function
    if state:
        args["state"] = state
    rows = call_system_function("_system/scheduler:list", args, url, params)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no scheduled functions" + (" match" if function or state else ""))
        return
    table = Table(header_style="bold", title="times in UTC")
    table.add_column("id", no_wrap=True)
    table.add_column("function", overflow="fold")
    table.add_column("state", overflow="fold")
    table.add_column("scheduled", no_wrap=True)
    table.add_column("completed", no_wrap=True)
    for row in rows:
        kind = row["state"]["kind"]
        shown = f"[{_STYLES.get(kind, 'dim')}]{kind}[/]"
        if kind == "failed":
            shown += f": {escape(str(row['state'].get('error', '')))}"
        table.add_row(
            row["_id"],
            escape(row["name"]),
            shown,
            _time(row["scheduledTime"]),
            _time(row.get("completedTime")),
        )
    out.print(table)


@scheduled.command("cancel")
@click.argument("job_id", metavar="ID")
@deployment_options
def scheduled_cancel(job_id: str, url: str | None, **params: Any) -> None:
    """Cancel the scheduled function ID (pending: never runs; running: runs on, but what it
    schedules from now on is canceled)."""
    before = call_system_function("_system/scheduler:cancel", {"id": job_id}, url, params)
    if before in ("pending", "inProgress"):
        out.print(f"Canceled {job_id} (it was {before})")
    else:
        out.print(f"{job_id} had already finished ({before}): nothing to cancel")
