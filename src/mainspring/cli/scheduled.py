"""``mainspring scheduled ls | cancel``: look at and cancel scheduled functions.

In-process against the configured database by default, or against a running deployment with
``--url`` and its admin key, through the built-in ``_system/scheduler:*`` functions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from rich.markup import escape
from rich.table import Table

from ..scheduling.jobs import STATES
from .options import COMMON, out, print_json, resolve_settings, setting_options
from .run import _fail, _run_here, _run_remote

__all__ = ["scheduled"]

F = TypeVar("F", bound=Callable[..., Any])
_STYLES = {"pending": "cyan", "inProgress": "yellow", "success": "green", "failed": "red"}


def _deployment_options(command: F) -> F:
    command = setting_options(*COMMON, "admin_key")(command)
    return click.option(
        "--url",
        envvar="MAINSPRING_URL",
        show_envvar=True,
        metavar="URL",
        help="Act on the deployment at URL (needs its admin key) instead of the local one.",
    )(command)


def _call(path: str, args: dict[str, Any], url: str | None, params: dict[str, Any]) -> Any:
    logs: list[str] = []
    try:
        if url:
            return _run_remote(url, params.get("admin_key"), path, args, logs)
        return asyncio.run(_run_here(resolve_settings(params), path, args, logs))
    except Exception as exc:
        _fail(path, exc)


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
@_deployment_options
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
    rows = _call("_system/scheduler:list", args, url, params)
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
@_deployment_options
def scheduled_cancel(job_id: str, url: str | None, **params: Any) -> None:
    """Cancel the scheduled function ID (pending: never runs; running: runs on, but what it
    schedules from now on is canceled)."""
    before = _call("_system/scheduler:cancel", {"id": job_id}, url, params)
    if before in ("pending", "inProgress"):
        out.print(f"Canceled {job_id} (it was {before})")
    else:
        out.print(f"{job_id} had already finished ({before}): nothing to cancel")
